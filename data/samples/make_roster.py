"""Write data/samples/qingdao_roster.csv, the example roster of the embedded sample.

Every person in it is invented: names are drawn from common surnames and given names and
marked （样例）, phones are 138-0000-xxxx, homes are scattered near the sample's grids. Headers
and kinds are in Chinese, as a street office's spreadsheet has them; one full-time worker in
five has an example QR link (https://example.org/wechat/{grid_code}: not a real group).

Run after ``./run sample`` (it reads the grids of out/sample)::

    .venv/bin/python data/samples/make_roster.py out/sample/grids.gpkg data/samples/qingdao_roster.csv
"""

from __future__ import annotations

import sys

import pyogrio

from gridgeo.export import sample_roster
from gridgeo.io import write_table

HEADERS = {"worker_id": "工号", "name": "姓名", "phone": "电话", "kind": "类型", "lon": "经度",
           "lat": "纬度", "area": "片区", "photo": "照片", "duties": "职责", "qr_url": "二维码链接"}  # fmt: skip
KINDS = {"full_time": "专职", "part_time": "兼职", "cadre": "干部"}
EXAMPLE_LINK = "https://example.org/wechat/{grid_code}"


def main(grids_path: str, out: str) -> None:
    """Generate the roster for the grids in ``grids_path`` and write it to ``out``."""
    roster = sample_roster(pyogrio.read_dataframe(grids_path, layer="grids"), seed=0)
    roster["name"] = roster["name"] + "（样例）"
    full = roster.index[roster["kind"] == "full_time"]
    roster.loc[full[::5], "qr_url"] = EXAMPLE_LINK
    roster["kind"] = roster["kind"].map(KINDS)
    write_table(roster.rename(columns=HEADERS), out)


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""A catalog of many pages (the default scenario's 267 items and 10,500 more: 11 pages of
1,000) as a province's is: /v1/health shows the download's progress while the stored catalog
stays in use, posad logs it every ten pages, and the whole is taken at the end."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

EXTRA = 10500
ITEMS = 267 + EXTRA
PAGES = 11


def big_catalog(directory):
    """The default scenario with EXTRA more items (after its own in code order)."""
    with open(os.path.join(h.SOURCE, "sandbox", "scenarios", "default.json"),
              encoding="utf-8") as f:
        sc = json.load(f)
    for i in range(EXTRA):
        sc["catalog"].append({"list_code": "T%014d" % i, "name": "测试项目%d" % i,
                              "chrgitm_lv": "02", "med_chrgitm_type": "09",
                              "selfpay_prop": "0.10", "price_limit": "100.000000"})
    path = os.path.join(directory, "big_catalog.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(sc, f, ensure_ascii=False)
    return path


class CatalogPages(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        if h.HisTestCase.world is None:
            w = h.World()
            w.scenario = big_catalog(w.dir)
            h.HisTestCase.world = w.start()
        super().setUpClass()

    def catalog_health(self):
        r = self.tcp.get("/v1/health")
        self.assertEqual(r.status, 200, r)
        return r.json["catalog"]

    def test_a_download_shows_its_progress(self):
        self.assertEqual(self.catalog_health()["items"], ITEMS)
        # Each page answered after 400 ms: the next start's download is watched page by page.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "1312", "mode": "delay", "delay_ms": 400, "count": PAGES})
        self.assertEqual(status, 200, raw)
        self.w._kill(self.w.posad)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        seen = []

        def done():
            c = self.catalog_health()
            if c["download"] is not None and c["download"] not in seen:
                seen.append(c["download"])
            return seen and c["download"] is None

        h.wait_until(done, 30, "the download", step=0.05)
        # Rows grow a page at a time, of the platform's count once its first page came.
        self.assertEqual(seen[0], {"rows": 0, "of": None}, seen)
        self.assertIn({"rows": 5000, "of": ITEMS}, seen)
        # (all of them while the whole is stored, which a slow build can catch)
        self.assertTrue(all(d["rows"] % 1000 == 0 or d["rows"] == ITEMS for d in seen), seen)
        self.assertEqual([d["rows"] for d in seen], sorted(d["rows"] for d in seen), seen)
        c = self.catalog_health()
        self.assertEqual((c["items"], c["last_error"]), (ITEMS, None), c)
        log = self.w.log_tail(n=10 ** 7)
        self.assertIn("event=catalog_downloading page=10 pages=%d rows=10000" % PAGES, log)


if __name__ == "__main__":
    h.main()

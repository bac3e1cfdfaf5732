"""``scores --compare COLUMN=A,B`` (SPEC §4, §6), with the numbers worked out by hand."""
from __future__ import annotations

import json

import pytest

from cxdata import cli

# channel Web: 10 NPS answers, 6 promoters (9–10), 2 passives, 2 detractors -> NPS +40;
#              CSAT 8 of 10 at 4–5 -> 80%.
# channel App: 10 NPS answers, 2 promoters, 2 passives, 6 detractors -> NPS −40;
#              CSAT 5 of 10 at 4–5 -> 50%.
WEB_NPS = [10, 9, 9, 10, 9, 10, 8, 7, 3, 5]
APP_NPS = [10, 9, 8, 7, 0, 1, 2, 4, 5, 6]
WEB_CSAT = [5, 5, 4, 4, 5, 4, 4, 5, 2, 1]
APP_CSAT = [5, 4, 4, 5, 4, 3, 3, 2, 1, 1]


@pytest.fixture
def log(tmp_path):
    rows = ["customer_id,timestamp,touchpoint,channel,nps,csat"]
    for channel, nps, csat in (("Web, desktop", WEB_NPS, WEB_CSAT), ("App", APP_NPS, APP_CSAT)):
        for i, (n, c) in enumerate(zip(nps, csat)):
            rows.append(f'{channel[:3]}{i},2025-01-0{1 + i % 9},Checkout,"{channel}",{n},{c}')
    # A third channel with other answers must not enter the comparison.
    rows.append("x1,2025-01-01,Checkout,Phone,0,1")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def run(capsys, *argv):
    code = cli.main([*map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_nps_comparison_is_the_adjusted_wald_z_test(log, capsys):
    code, out, err = run(capsys, "scores", log, "--metric", "nps", "--compare", "channel=Web, desktop,App",
                         "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    assert got["metric"] == "nps" and got["column"] == "channel"
    assert [(g["group"], g["n"], g["score"], g["low_sample"]) for g in got["groups"]] == [
        ("Web, desktop", 10, 40.0, True), ("App", 10, -40.0, True)]
    # By hand: n′ = 13; Web p′ = 6.75/13, d′ = 2.75/13, a′ = 4/13 = 0.307692,
    # va = (9.5/13 − (4/13)²)/13 = 0.0489304; App b′ = −4/13 with the same variance.
    # a′ − b′ = 8/13 = 0.615385, se = √(2·0.0489304) = 0.312827, z = 1.96716,
    # p = 2·(1 − Φ(1.96716)) = 0.049163; interval 100·(0.615385 ± 1.959964·0.312827) = 0.2255 … 122.852
    # (1.959964 = Φ⁻¹(0.975), the SPEC's 1.96).
    assert got["difference"] == pytest.approx(80.0)
    assert got["ci_low"] == pytest.approx(0.2255, abs=2e-4)
    assert got["ci_high"] == pytest.approx(122.8516, abs=2e-4)
    assert got["p"] == pytest.approx(0.049163, abs=1e-5)


def test_csat_comparison_is_the_two_proportion_test(log, capsys):
    code, out, err = run(capsys, "scores", log, "--metric", "csat", "--compare", "channel=App,Web, desktop",
                         "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    assert [g["group"] for g in got["groups"]] == ["App", "Web, desktop"]
    # App − Web = 50% − 80% = −30 points.  Unpooled se = √(.5·.5/10 + .8·.2/10) = √0.041
    # = 0.202485: −30 ± 196·0.202485 = −69.687 … 9.687 (1.959964 · 100 = 196).  Pooled p̂ = 13/20 = 0.65,
    # se = √(0.65·0.35·(1/10 + 1/10)) = 0.213307, z = −1.40642, p = 0.159599.
    assert got["difference"] == pytest.approx(-30.0)
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(-69.687, abs=1e-3), pytest.approx(9.687, abs=1e-3))
    assert got["p"] == pytest.approx(0.159599, abs=1e-5)


def test_text_output_and_unusable_compare_arguments(log, capsys):
    code, out, _ = run(capsys, "scores", log, "--metric", "nps", "--compare", "channel=Web, desktop,App")
    assert code == 0
    assert "difference (Web, desktop − App): +80.0 NPS points, 95% interval [+0.2 … +122.9], p = 0.049" in out
    code, _, err = run(capsys, "scores", log, "--metric", "nps", "--compare", "channel=Web")
    assert code == 2 and err.startswith("--compare needs COLUMN=A,B")
    code, _, err = run(capsys, "scores", log, "--metric", "nps", "--compare", "channel=App,Shop")
    assert code == 2 and "no NPS responses with the value 'Shop'" in err
    code, _, err = run(capsys, "scores", log, "--metric", "nps", "--compare", "colour=App,Web")
    assert code == 2 and err.startswith("Unknown column 'colour'")

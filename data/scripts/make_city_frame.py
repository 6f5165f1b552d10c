"""Build ``data/raw/cities.csv``, ``data/raw/provinces.csv`` and
``data/raw/cbec_pilot_batches.csv`` (one-off; not run by the book).

Run from the repository root, in a scratch environment that has the two
build-time-only packages (they are *not* project requirements)::

    python -m venv /tmp/probe
    /tmp/probe/bin/pip install cpca==0.5.5 pypinyin==0.55.0
    /tmp/probe/bin/python data/scripts/make_city_frame.py \
        --pilots /path/to/shared/facts/cbec_pilot_batches.csv

Sources
-------
* ``cpca`` 0.5.5, file ``cpca/resources/adcodes.csv``: 12-digit administrative
  codes with names and coordinates (divisions around 2019-2020). Prefecture-level
  rows end in ``00000000``.
* ``pypinyin`` 0.55.0 for Hanyu Pinyin, corrected by the explicit override dicts
  below (heteronyms such as 长治 Changzhi, 朝阳 Chaoyang, 漯河 Luohe) and by the
  conventional English names of non-Han place names (Hohhot, Urumqi, Lhasa ...).
* The State Council replies on the CBEC pilot areas, batches 1-7, as collected in
  the project's shared facts file (``cbec_pilot_batches.csv``).

Corrections to the cpca snapshot to reach the 2021 frame
--------------------------------------------------------
* Laiwu 莱芜 (371200) is dropped: merged into Jinan in January 2019.
* Nagqu: cpca still lists 那曲地区 (542400); it became the prefecture-level city
  那曲市 with code 540600 (approved 2017, set up 2018).
* Chaohu 巢湖 (341400, abolished 2011) is already absent from cpca.
* The four municipalities are coded with their province-level code (110000,
  120000, 310000, 500000); cpca's 市辖区/县 rows under them are merged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from pypinyin import lazy_pinyin

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
CPCA = Path("/tmp/probe/lib/python3.11/site-packages/cpca/resources/adcodes.csv")

# --------------------------------------------------------------------------
# Provinces
# --------------------------------------------------------------------------
PROVINCES = {  # code: (English, Chinese short name, region)
    "11": ("Beijing", "北京", "East"),
    "12": ("Tianjin", "天津", "East"),
    "13": ("Hebei", "河北", "East"),
    "14": ("Shanxi", "山西", "Central"),
    "15": ("Inner Mongolia", "内蒙古", "West"),
    "21": ("Liaoning", "辽宁", "Northeast"),
    "22": ("Jilin", "吉林", "Northeast"),
    "23": ("Heilongjiang", "黑龙江", "Northeast"),
    "31": ("Shanghai", "上海", "East"),
    "32": ("Jiangsu", "江苏", "East"),
    "33": ("Zhejiang", "浙江", "East"),
    "34": ("Anhui", "安徽", "Central"),
    "35": ("Fujian", "福建", "East"),
    "36": ("Jiangxi", "江西", "Central"),
    "37": ("Shandong", "山东", "East"),
    "41": ("Henan", "河南", "Central"),
    "42": ("Hubei", "湖北", "Central"),
    "43": ("Hunan", "湖南", "Central"),
    "44": ("Guangdong", "广东", "East"),
    "45": ("Guangxi", "广西", "West"),
    "46": ("Hainan", "海南", "East"),
    "50": ("Chongqing", "重庆", "West"),
    "51": ("Sichuan", "四川", "West"),
    "52": ("Guizhou", "贵州", "West"),
    "53": ("Yunnan", "云南", "West"),
    "54": ("Tibet", "西藏", "West"),
    "61": ("Shaanxi", "陕西", "West"),
    "62": ("Gansu", "甘肃", "West"),
    "63": ("Qinghai", "青海", "West"),
    "64": ("Ningxia", "宁夏", "West"),
    "65": ("Xinjiang", "新疆", "West"),
}
MUNICIPALITY_CODES = {"11", "12", "31", "50"}

# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------
# Heteronyms pypinyin gets wrong, checked by hand.
PINYIN_FIX = {
    "长治": "Changzhi",
    "朝阳": "Chaoyang",
    "漯河": "Luohe",
    "吕梁": "Lvliang",  # ü written v (ASCII)
}
# Conventional English names of non-Han place names, and short names of the
# autonomous prefectures, leagues and prefectures (地区).
NAME_EN = {
    # Inner Mongolia
    "呼和浩特市": "Hohhot", "包头市": "Baotou", "乌海市": "Wuhai",
    "鄂尔多斯市": "Ordos", "呼伦贝尔市": "Hulunbuir", "巴彦淖尔市": "Bayannur",
    "乌兰察布市": "Ulanqab", "兴安盟": "Hinggan", "锡林郭勒盟": "Xilingol",
    "阿拉善盟": "Alxa",
    # Heilongjiang
    "哈尔滨市": "Harbin", "齐齐哈尔市": "Qiqihar", "大兴安岭地区": "Da Hinggan Ling",
    # Tibet
    "拉萨市": "Lhasa", "日喀则市": "Shigatse", "昌都市": "Qamdo",
    "林芝市": "Nyingchi", "山南市": "Shannan", "那曲市": "Nagqu",
    "阿里地区": "Ngari",
    # Xinjiang
    "乌鲁木齐市": "Urumqi", "克拉玛依市": "Karamay", "吐鲁番市": "Turpan",
    "哈密市": "Hami", "昌吉回族自治州": "Changji", "博尔塔拉蒙古自治州": "Bortala",
    "巴音郭楞蒙古自治州": "Bayingolin", "阿克苏地区": "Aksu",
    "克孜勒苏柯尔克孜自治州": "Kizilsu", "喀什地区": "Kashgar", "和田地区": "Hotan",
    "伊犁哈萨克自治州": "Ili", "塔城地区": "Tacheng", "阿勒泰地区": "Altay",
    # Jilin
    "延边朝鲜族自治州": "Yanbian",
    # Hubei / Hunan
    "恩施土家族苗族自治州": "Enshi", "湘西土家族苗族自治州": "Xiangxi",
    # Sichuan
    "阿坝藏族羌族自治州": "Ngawa", "甘孜藏族自治州": "Garze", "凉山彝族自治州": "Liangshan",
    # Guizhou
    "黔西南布依族苗族自治州": "Qianxinan", "黔东南苗族侗族自治州": "Qiandongnan",
    "黔南布依族苗族自治州": "Qiannan",
    # Yunnan
    "楚雄彝族自治州": "Chuxiong", "红河哈尼族彝族自治州": "Honghe",
    "文山壮族苗族自治州": "Wenshan", "西双版纳傣族自治州": "Xishuangbanna",
    "大理白族自治州": "Dali", "德宏傣族景颇族自治州": "Dehong",
    "怒江傈僳族自治州": "Nujiang", "迪庆藏族自治州": "Diqing",
    # Gansu
    "临夏回族自治州": "Linxia", "甘南藏族自治州": "Gannan",
    # Qinghai
    "海北藏族自治州": "Haibei", "黄南藏族自治州": "Huangnan",
    "海南藏族自治州": "Hainan Tibetan", "果洛藏族自治州": "Golog",
    "玉树藏族自治州": "Yushu", "海西蒙古族藏族自治州": "Haixi",
}
# Pilot areas below prefecture level.
PILOT_EN = {
    "义乌": "Yiwu", "珲春": "Hunchun", "绥芬河": "Suifenhe", "满洲里": "Manzhouli",
    "雄安新区": "Xiong'an New Area", "阿拉山口": "Alashankou", "延吉": "Yanji",
    "同江": "Tongjiang",
}


def pinyin_title(zh: str) -> str:
    """Title-case Hanyu Pinyin without tones, with syllable apostrophes."""
    if zh in PINYIN_FIX:
        return PINYIN_FIX[zh]
    syl = [s.replace("ü", "v") for s in lazy_pinyin(zh)]
    out = syl[0]
    for s in syl[1:]:
        out += ("'" if s[0] in "aeo" else "") + s
    return out[:1].upper() + out[1:]


def short_name(zh: str) -> str:
    for suf in ("地区", "市", "盟"):
        if zh.endswith(suf):
            return zh[: -len(suf)]
    return zh


def english_name(zh: str) -> str:
    return NAME_EN.get(zh) or pinyin_title(short_name(zh))


def unit_type(zh: str, prov: str) -> str:
    if prov in MUNICIPALITY_CODES:
        return "municipality"
    if zh.endswith("自治州"):
        return "autonomous prefecture"
    if zh.endswith("盟"):
        return "league"
    if zh.endswith("地区"):
        return "prefecture"
    if zh.endswith("市"):
        return "prefecture-level city"
    raise ValueError(zh)


# --------------------------------------------------------------------------
# Classifications
# --------------------------------------------------------------------------
SUB_PROVINCIAL = {210100, 210200, 220100, 230100, 320100, 330100, 330200, 350200,
                  370100, 370200, 420100, 440100, 440300, 510100, 610100}
JJJ = {110000, 120000} | {130000 + 100 * i for i in range(1, 12)}
YRD = {310000,
       320100, 320200, 320400, 320500, 320600, 320900, 321000, 321100, 321200,
       330100, 330200, 330300, 330400, 330500, 330600, 330700, 330900, 331000,
       340100, 340200, 340500, 340700, 340800, 341100, 341700, 341800}
PRD = {440100, 440300, 440400, 440600, 441300, 441900, 442000, 440700, 441200}
# Became a prefecture-level city after 2009 (year of the State Council approval).
PREFECTURE_LEVEL_SINCE = {
    520500: 2011,  # Bijie (from Bijie prefecture)
    520600: 2011,  # Tongren (from Tongren prefecture)
    460300: 2012,  # Sansha (new)
    630200: 2013,  # Haidong (from Haidong prefecture)
    540200: 2014,  # Shigatse
    540300: 2014,  # Qamdo
    540400: 2015,  # Nyingchi
    650400: 2015,  # Turpan
    460400: 2015,  # Danzhou (from a province-administered county-level city)
    650500: 2016,  # Hami
    540500: 2016,  # Shannan
    540600: 2017,  # Nagqu (approved 2017, set up 2018)
}
# Book convention: the four non-pilot cities whose territory was re-drawn by
# Anhui's re-divisions inside the window (see data/README.md).
BOUNDARY_BREAK = {
    340500: "territory changed 2011 (gained Hanshan and He counties when Chaohu was abolished)",
    340400: "territory changed 2015/16 (gained Shou county from Lu'an)",
    341500: "territory changed 2015/16 (lost Shou county to Huainan)",
    340700: "territory changed 2015/16 (gained Zongyang county from Anqing)",
}
LHASA = 540100


def build_frame() -> pd.DataFrame:
    d = pd.read_csv(CPCA, dtype={"adcode": str})
    d = d[d.adcode.str.endswith("00000000")].copy()
    d["code6"] = d.adcode.str[:6].astype(int)
    d["prov"] = d.adcode.str[:2]
    prov_rows = d[d.adcode.str.endswith("0000000000")].set_index("prov")
    pref = d[~d.adcode.str.endswith("0000000000")]
    pref = pref[pref.prov.isin(PROVINCES)]
    pref = pref[~pref.name.isin(["省直辖县级行政区划", "自治区直辖县级行政区划"])]
    rows = []
    for p in sorted(MUNICIPALITY_CODES):  # merge 市辖区 / 县 rows
        r = prov_rows.loc[p]
        rows.append(dict(city_id=int(p) * 10000, city_zh=r["name"], prov=p,
                         longitude=r.longitude, latitude=r.latitude))
    for r in pref[~pref.prov.isin(MUNICIPALITY_CODES)].itertuples():
        rows.append(dict(city_id=r.code6, city_zh=r.name, prov=r.prov,
                         longitude=r.longitude, latitude=r.latitude))
    f = pd.DataFrame(rows)
    # 2021 corrections
    f = f[f.city_id != 371200]  # Laiwu merged into Jinan, 2019
    f.loc[f.city_id == 542400, ["city_id", "city_zh"]] = [540600, "那曲市"]
    f["unit_type"] = [unit_type(z, p) for z, p in zip(f.city_zh, f.prov)]
    f["city"] = [PROVINCES[p][0] if p in MUNICIPALITY_CODES else english_name(z)
                 for z, p in zip(f.city_zh, f.prov)]
    f["province"] = f.prov.map(lambda p: PROVINCES[p][0])
    f["province_zh"] = f.prov.map(lambda p: PROVINCES[p][1])
    f["region"] = f.prov.map(lambda p: PROVINCES[p][2])
    f["is_municipality"] = f.unit_type.eq("municipality")
    f["is_provincial_capital"] = f.is_municipality | (
        (f.city_id % 10000 == 100) & f.unit_type.eq("prefecture-level city"))
    f["is_sub_provincial"] = f.city_id.isin(SUB_PROVINCIAL)
    f["agglomeration"] = "other"
    f.loc[f.city_id.isin(JJJ), "agglomeration"] = "JJJ"
    f.loc[f.city_id.isin(YRD), "agglomeration"] = "YRD"
    f.loc[f.city_id.isin(PRD), "agglomeration"] = "PRD"
    f["prefecture_level_since"] = f.city_id.map(PREFECTURE_LEVEL_SINCE).astype("Int64")
    f["longitude"] = f.longitude.round(6)
    f["latitude"] = f.latitude.round(6)
    return f.sort_values("city_id").reset_index(drop=True)


def apply_sample_rule(f: pd.DataFrame, pilot_codes: set[int]) -> pd.DataFrame:
    reason = pd.Series("", index=f.index, dtype=object)
    not_city = ~f.unit_type.isin(["municipality", "prefecture-level city"])
    reason[not_city] = "not a city (" + f.unit_type[not_city] + ")"
    late = f.prefecture_level_since.notna() & ~not_city
    reason[late] = ("prefecture-level city only since "
                    + f.prefecture_level_since[late].astype(str))
    reason[f.city_id == LHASA] = "Lhasa: yearbook gaps in 2010-2021"
    for code, why in BOUNDARY_BREAK.items():
        reason[f.city_id == code] = why
    f["in_sample"] = reason.eq("")
    f["exclusion_reason"] = reason
    bad = f.loc[~f.in_sample & f.city_id.isin(pilot_codes), "city"].tolist()
    assert not bad, f"pilot cities excluded: {bad}"
    return f


def build_pilots(path: Path, f: pd.DataFrame) -> pd.DataFrame:
    b = pd.read_csv(path, dtype=str)
    key = {(r.province_zh, short_name(r.city_zh)): r.city_id for r in f.itertuples()}
    key.update({(r.province_zh, r.city_zh): r.city_id for r in f.itertuples()})
    en = f.set_index("city_id")
    codes = []
    for r in b.itertuples():
        codes.append(key[(r.province, r.prefecture)])
    b["prefecture_code"] = codes
    b["prefecture_en"] = [en.at[c, "city"] for c in codes]
    prov_en = {v[1]: v[0] for v in PROVINCES.values()}
    b["province_en"] = b.province.map(prov_en)
    area_en = []
    for r in b.itertuples():
        if r.pilot_area in PILOT_EN:
            area_en.append(PILOT_EN[r.pilot_area])
        else:
            area_en.append(en.at[r.prefecture_code, "city"])
    b["pilot_area_en"] = area_en
    cols = ["batch", "approval_date", "document_number", "pilot_area", "pilot_area_en",
            "province", "province_en", "unit_type", "prefecture", "prefecture_en",
            "prefecture_code", "check"]
    return b[cols]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pilots", type=Path, required=True)
    args = ap.parse_args()
    f = build_frame()
    pilots = build_pilots(args.pilots, f)
    p15 = pilots[pilots.batch.astype(int) <= 5]
    city_pilots = p15.loc[p15.unit_type.isin(["municipality", "prefecture-level city"]),
                          "prefecture_code"]
    pilot_codes = set(city_pilots) - set(PREFECTURE_LEVEL_SINCE)
    f = apply_sample_rule(f, pilot_codes)
    cols = ["city_id", "city", "city_zh", "unit_type", "province", "province_zh", "region",
            "longitude", "latitude", "is_municipality", "is_provincial_capital",
            "is_sub_provincial", "agglomeration", "prefecture_level_since", "in_sample",
            "exclusion_reason"]
    RAW.mkdir(parents=True, exist_ok=True)
    f[cols].to_csv(RAW / "cities.csv", index=False)
    provs = pd.DataFrame([dict(province=v[0], province_zh=v[1], code=k, region=v[2],
                               is_municipality=k in MUNICIPALITY_CODES)
                          for k, v in PROVINCES.items()])
    provs.to_csv(RAW / "provinces.csv", index=False)
    pilots.to_csv(RAW / "cbec_pilot_batches.csv", index=False)
    print(f"{len(f)} units, {f.in_sample.sum()} in sample; "
          f"{len(pilot_codes)} pilot cities (batches 1-5) in sample")
    print(f.exclusion_reason.value_counts().to_string())


if __name__ == "__main__":
    main()

"""The policy-text corpora of the book (the paper's §2.1, Tables 1-2): loaders, dictionaries,
the public facts about the documents and a seeded synthetic demonstration corpus.

:func:`load_corpus` takes ``""`` (the synthetic corpus), a folder of ``.txt``
files (one document per file, optional ``metadata.csv`` with
``id, date, issuer, title``) or a CSV with ``id, date, issuer, title, text``.
:func:`load_themes` reads the theme dictionary (``data/raw/policy/themes.csv``),
:func:`load_stopwords` the stop-word lists. :func:`simulate_corpus` draws a corpus whose
theme shares are known; ``python -m lib.data.policy_corpus`` rewrites the shipped one.
The counting rule itself is :mod:`lib.methods.text`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lib import DATA, ROOT, shown_path

__all__ = [
    "POLICY_DIR",
    "SYNTHETIC_DIR",
    "SYNTHETIC_SEED",
    "FACTS_SOURCE",
    "LANGUAGES",
    "CorpusError",
    "Themes",
    "Corpus",
    "load_themes",
    "load_stopwords",
    "load_corpus",
    "policy_documents",
    "simulate_corpus",
    "write_synthetic_corpus",
]

#: Public facts and dictionaries of the policy-text chapter.
POLICY_DIR = DATA / "raw" / "policy"
#: The shipped synthetic demonstration corpus (``python -m lib.data.policy_corpus`` rewrites it).
SYNTHETIC_DIR = DATA / "derived" / "policy_corpus_synthetic"
#: What the table of policy documents (:func:`policy_documents`) was made from.
FACTS_SOURCE = ("real facts: the State Council's replies approving the CBEC pilot batches "
                "(data/raw/cbec_pilot_batches.csv) and the four documents the paper prints; nothing simulated")
#: Seed of the shipped synthetic corpus.
SYNTHETIC_SEED = 20241123
#: The languages the dictionaries and the counting rule cover.
LANGUAGES = ("zh", "en")
_LANGS = LANGUAGES


class CorpusError(ValueError):
    """A corpus path or file the loader cannot use (the message says what to fix)."""


# --------------------------------------------------------------------------- dictionaries
@dataclass(frozen=True)
class Themes:
    """Theme dictionaries: one row per keyword, in English and Chinese.

    Attributes
    ----------
    frame : DataFrame
        ``theme, theme_zh, keyword_en, keyword_zh, note`` (``data/raw/policy/themes.csv``).
    source : str
        Where the dictionaries come from, in words (a saved table's ``data`` column).
    """

    frame: pd.DataFrame
    source: str = ""

    @property
    def names(self) -> list[str]:
        """Theme names in file order."""
        return list(dict.fromkeys(self.frame["theme"]))

    def keywords(self, language: str) -> dict[str, tuple[str, ...]]:
        """Theme -> its keywords in ``language`` (``"zh"`` or ``"en"``, English lower-cased)."""
        _check_language(language)
        col = f"keyword_{language}"
        out = {}
        for theme in self.names:
            words = self.frame.loc[self.frame["theme"] == theme, col]
            out[theme] = tuple(w.lower() if language == "en" else w for w in words)
        return out

    def lookup(self, language: str) -> dict[str, str]:
        """Keyword -> theme in ``language``."""
        return {w: t for t, ws in self.keywords(language).items() for w in ws}


def _check_language(language: str) -> None:
    if language not in _LANGS:
        raise ValueError(f"language must be one of {_LANGS}, got {language!r}")


def load_themes(path: str | Path | None = None) -> Themes:
    """Read the theme dictionaries (default ``data/raw/policy/themes.csv``).

    The English keywords are the paper's Table 2 lists; the Chinese keywords
    are the book's translation (see ``data/raw/policy/README.md``).

    Raises
    ------
    CorpusError
        A missing column, an empty keyword, or a keyword listed under two
        themes (its count would be ambiguous); the message names the rows.
    """
    path = _resolve(path) if path else POLICY_DIR / "themes.csv"
    if not path.is_file():
        raise CorpusError(f"themes file {path} does not exist; it needs columns theme, keyword_en, "
                          f"keyword_zh (see data/raw/policy/themes.csv)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["theme", "keyword_en", "keyword_zh"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise CorpusError(f"{path}: columns {missing} missing; a theme file needs {need}")
    for col in ("theme_zh", "note"):
        if col not in df.columns:
            df[col] = ""
    for col in ("theme", "keyword_en", "keyword_zh"):
        df[col] = df[col].str.strip()
        empty = df.index[df[col] == ""].tolist()
        if empty:
            raise CorpusError(f"{path}: column {col!r} is empty in rows {[i + 2 for i in empty]} "
                              f"(file line numbers)")
    for col, norm in (("keyword_en", str.lower), ("keyword_zh", str)):
        key = df[col].map(norm)
        dup = df[key.duplicated(keep=False)]
        clash = dup.groupby(key[dup.index])["theme"].nunique()
        clash = clash[clash > 1]
        if len(clash):
            rows = dup[key[dup.index].isin(clash.index)].index + 2
            raise CorpusError(f"{path}: keywords {list(clash.index)} ({col}) are listed under more "
                              f"than one theme (lines {list(rows)}); a keyword must belong to one theme")
    source = ("the paper's Table 2 keywords with the book's Chinese translations "
              "(data/raw/policy/themes.csv)" if path == POLICY_DIR / "themes.csv"
              else f"the reader's theme dictionaries {path.name}")
    return Themes(frame=df[["theme", "theme_zh", "keyword_en", "keyword_zh", "note"]].copy(), source=source)


@lru_cache(maxsize=None)
def load_stopwords(language: str) -> frozenset[str]:
    """The stop words of ``language`` (``data/raw/policy/stopwords_{zh,en}.txt``)."""
    _check_language(language)
    lines = (POLICY_DIR / f"stopwords_{language}.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))

# --------------------------------------------------------------------------- corpus
@dataclass(frozen=True)
class Corpus:
    """Documents to analyse.

    Attributes
    ----------
    documents : DataFrame
        ``doc_id, date, year, issuer, title, text`` (date may be NaT, year <NA>).
    source : str
        What the corpus is, in words.
    synthetic : bool
        True for the book's generated demonstration corpus.
    truth : dict or None
        The synthetic corpus's known theme shares (``truth.json``); None otherwise.
    """

    documents: pd.DataFrame
    source: str
    synthetic: bool = False
    truth: dict | None = None

    def __len__(self) -> int:
        return len(self.documents)


def _resolve(path: str | Path) -> Path:
    """A relative path is tried against the working directory, ``$PWD`` and the repository root.

    ``python -m lib.run`` executes chapters with ``chapters/`` as working
    directory, so a path the reader typed relative to their shell must be
    found through ``$PWD``.
    """
    import os

    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    for base in (Path.cwd(), Path(os.environ.get("PWD", ".")), ROOT):
        if (base / p).exists():
            return (base / p).resolve()
    return (Path.cwd() / p).resolve()


def _finish(df: pd.DataFrame, where: str) -> pd.DataFrame:
    df = df.copy()
    df["doc_id"] = df["doc_id"].astype(str)
    dup = df.loc[df["doc_id"].duplicated(keep=False), "doc_id"].tolist()
    if dup:
        raise CorpusError(f"{where}: document ids {sorted(set(dup))} appear more than once")
    df["text"] = df["text"].fillna("").astype(str)
    empty = df.loc[df["text"].str.strip() == "", "doc_id"].tolist()
    if empty:
        raise CorpusError(f"{where}: {len(empty)} documents have no text: {empty[:10]}"
                          f"{' ...' if len(empty) > 10 else ''}; remove them or add their text")
    for col in ("issuer", "title"):
        df[col] = df[col].fillna("").astype(str) if col in df else ""
    dates = df["date"] if "date" in df else pd.Series("", index=df.index)
    parsed = pd.to_datetime(dates.replace("", None), errors="coerce", format="mixed")
    bad = df.loc[dates.fillna("").astype(str).ne("") & parsed.isna(), "doc_id"].tolist()
    if bad:
        raise CorpusError(f"{where}: column 'date' cannot be read as a date for documents {bad[:10]} "
                          f"(use YYYY-MM-DD or YYYY)")
    df["date"] = parsed
    year = parsed.dt.year.astype("Int64")
    # a file name starting with a year (2019_notice.txt) dates a document without metadata
    from_id = pd.to_numeric(df["doc_id"].str.extract(r"^((?:19|20)\d\d)")[0], errors="coerce")
    df["year"] = year.fillna(from_id.astype("Int64"))
    return df[["doc_id", "date", "year", "issuer", "title", "text"]].reset_index(drop=True)


def load_corpus(path: str | Path = "", *, seed: int | None = None) -> Corpus:
    """Load the documents a chapter's ``corpus_path`` points at.

    Parameters
    ----------
    path : str or Path
        ``""``: the synthetic demonstration corpus (the shipped files, or a
        fresh draw of :func:`simulate_corpus` when ``seed`` differs from
        :data:`SYNTHETIC_SEED`). A folder: every
        ``*.txt`` file is a document (UTF-8; id = file stem), with optional
        ``metadata.csv`` (``id, date, issuer, title``) in the folder. A
        ``.csv`` file: one row per document with columns
        ``id, date, issuer, title, text`` (only ``id`` and ``text`` required).

    Raises
    ------
    CorpusError
        Missing path, empty folder or file, a CSV without a ``text`` or
        ``id`` column, documents without text, duplicated ids or unreadable
        dates; the message names the file and the rows.
    """
    if path in ("", None) and seed not in (None, SYNTHETIC_SEED):
        docs, truth = simulate_corpus(seed=int(seed))
        return Corpus(_finish(docs, f"<synthetic corpus, seed {seed}>"),
                      f"a synthetic demonstration corpus drawn with seed {seed} ({len(docs)} documents)",
                      True, truth)
    if path in ("", None):
        corpus = load_corpus(SYNTHETIC_DIR)
        truth = json.loads((SYNTHETIC_DIR / "truth.json").read_text(encoding="utf-8"))
        return Corpus(corpus.documents, "the book's synthetic demonstration corpus "
                      f"({len(corpus)} generated documents, seed {truth['seed']})", True, truth)
    p = _resolve(path)
    if not p.exists():
        raise CorpusError(f"corpus_path {str(path)!r} does not exist (looked at {shown_path(p)}); give a folder "
                          f"of .txt files or a CSV with columns id, date, issuer, title, text")
    if p.is_dir():
        files = sorted(p.glob("*.txt"))
        if not files:
            raise CorpusError(f"corpus folder {shown_path(p)} holds no .txt files; put one UTF-8 text file per "
                              f"document there (and optionally metadata.csv)")
        df = pd.DataFrame({"doc_id": [f.stem for f in files],
                           "text": [f.read_text(encoding="utf-8") for f in files]})
        meta_path = p / "metadata.csv"
        if meta_path.exists():
            meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
            if "id" not in meta.columns:
                raise CorpusError(f"{meta_path}: needs an 'id' column (the file stems); has "
                                  f"{list(meta.columns)}")
            unknown = sorted(set(meta["id"]) - set(df["doc_id"]))
            if unknown:
                raise CorpusError(f"{meta_path}: ids {unknown[:10]} have no .txt file in {p}")
            df = df.merge(meta.rename(columns={"id": "doc_id"}), on="doc_id", how="left")
        return Corpus(_finish(df, str(p)), f"the reader's corpus folder `{p.name}` ({len(df)} documents)")
    if p.suffix.lower() != ".csv":
        raise CorpusError(f"corpus_path {p}: expected a folder or a .csv file, got a {p.suffix or 'file'}")
    if p.stat().st_size == 0:
        raise CorpusError(f"corpus file {p} is empty; it needs a header id,date,issuer,title,text "
                          f"and one row per document")
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "text") if c not in df.columns]
    if missing:
        raise CorpusError(f"corpus file {p}: column(s) {missing} missing; it has {list(df.columns)} "
                          f"and needs id, text (and optionally date, issuer, title)")
    if df.empty:
        raise CorpusError(f"corpus file {p} has a header but no documents")
    df = df.rename(columns={"id": "doc_id"})
    return Corpus(_finish(df, str(p)), f"the reader's corpus file `{p.name}` ({len(df)} documents)")

# --------------------------------------------------------------------------- documents (Table 1)
_REPLY_TITLE = "国务院关于同意在{first}等{n}个{what}设立跨境电子商务综合试验区的批复"
_CITY_UNITS = ("prefecture-level city", "county-level city", "municipality")


def policy_documents() -> pd.DataFrame:
    """The policy documents that are public facts (the chapter's Table 1).

    The seven State Council replies approving the pilot batches are derived
    from ``data/raw/cbec_pilot_batches.csv`` (:func:`lib.data.facts.pilot_batches`):
    date and document number as recorded there, the title built from the
    replies' common pattern (first area named, number of areas, "城市" or
    "城市和地区" when a batch includes non-city areas), and the ``check``
    column carried over (batches 6-7 partly from memory). The four titles the
    paper's Table 1 prints come from ``data/raw/policy/documents.csv``.

    Returns
    -------
    DataFrame
        ``source, no, date, year, issuer, document_number, title, title_en, check``.
    """
    from lib.data.facts import pilot_batches

    b = pilot_batches()
    rows = []
    for batch, g in b.groupby("batch", sort=True):
        first = g.iloc[0]
        if len(g) == 1:
            title = f"国务院关于同意设立中国（{first['pilot_area']}）跨境电子商务综合试验区的批复"
            title_en = f"Reply approving the China ({first['pilot_area_en']}) CBEC Comprehensive Pilot Area"
        else:
            non_city = ~g["unit_type"].isin(_CITY_UNITS)
            what = "城市和地区" if non_city.any() else "城市"
            title = _REPLY_TITLE.format(first=first["pilot_area"], n=len(g), what=what)
            title_en = (f"Reply approving CBEC Comprehensive Pilot Areas in {len(g)} "
                        f"{'cities and areas' if non_city.any() else 'cities'} including "
                        f"{first['pilot_area_en']}")
        checks = sorted(set(g["check"]))
        rows.append({"source": f"pilot batch {batch}", "no": "", "date": first["approval_date"],
                     "year": first["approval_date"].year, "issuer": "State Council (国务院)",
                     "document_number": first["document_number"], "title": title, "title_en": title_en,
                     "check": "title from the replies' pattern; batch list: " + " / ".join(checks)})
    paper = pd.read_csv(POLICY_DIR / "documents.csv", dtype=str, keep_default_na=False)
    for r in paper.itertuples(index=False):
        rows.append({"source": "paper Table 1", "no": r.no, "date": pd.NaT, "year": int(r.year),
                     "issuer": r.issuer, "document_number": r.document_number, "title": r.title_zh,
                     "title_en": r.title_en, "check": r.check})
    out = pd.DataFrame(rows)
    out["date"] = pd.to_datetime(out["date"])
    return out

# --------------------------------------------------------------------------- synthetic corpus
#: Neutral policy vocabulary the generator draws non-keyword tokens from.
FILLER_ZH = (
    "推进 加快 建设 发展 完善 推动 支持 鼓励 开展 加强 提升 促进 优化 实施 建立 健全 工作 方案 "
    "措施 机制 模式 领域 国际 贸易 进出口 跨境 电子商务 综合 试验区 城市 地区 人民政府 部门 "
    "国务院 商务部 要求 意见 通知 规定 管理 统筹 协调 产业 外贸 零售 出口 进口 改革 创新 经验 "
    "复制 推广 示范 质量 效益 规模 主体 市场 国家 全面 积极 有序 稳步 重点 任务 目标 组织 实施方案 "
    "保障 落实 责任 评估 考核 引导 培育 壮大 合作 开放 高水平 便利 消费者 产品 制造业 转型 升级"
).split()
#: Stop words and punctuation the generator sprinkles between tokens.
_GEN_STOP = ("的", "和", "与", "在", "等", "及", "对", "为")


def simulate_corpus(*, seed: int = SYNTHETIC_SEED, n_docs: int = 64, years: tuple[int, int] = (2015, 2024),
                    base_pct: Mapping[str, float] | None = None,
                    trend: Mapping[str, float] | None = None, doc_sd: float = 0.2,
                    tokens: tuple[int, int] = (600, 2400), zipf: float = 1.1,
                    themes: Themes | None = None) -> tuple[pd.DataFrame, dict]:
    """Draw a Chinese policy-like corpus whose theme shares are known.

    Each document ``d`` issued in year ``y_d`` has ``n_d`` content tokens; each
    is a keyword of theme ``k`` with probability

    .. math::

        p_{dk} = \\frac{b_k}{100}\\,\\bigl(1 + g_k\\,s_d\\bigr)\\,e^{u_{dk} - \\sigma^2/2},
        \\quad s_d = \\frac{2(y_d - \\bar y)}{y_{max} - y_{min}} \\in [-1, 1],
        \\quad u_{dk} \\sim N(0, \\sigma^2),

    and a neutral filler word otherwise. Within a theme, keywords are drawn
    with Zipf weights :math:`\\propto r^{-a}` over a seeded ranking. Between
    tokens the generator inserts stop words and punctuation (``，`` / ``。``),
    which the counting rule removes, and writes the tokens without spaces, so
    the counter must segment the text as a reader's documents would be.

    Parameters
    ----------
    seed : int
        ``numpy.random.default_rng`` seed; same seed, same corpus.
    n_docs : int
        Documents (64 as in the paper).
    years : (int, int)
        Years of issue, drawn uniformly (inclusive).
    base_pct : dict, optional
        Theme -> mean share in % (default: the paper's printed 3.55 / 4.85 /
        2.57, so agreement with the paper is by construction).
    trend : dict, optional
        Theme -> ``g_k``, the relative change of the share from the middle to
        the last year (default: digital infrastructure +0.5, service 0,
        business environment −0.3).
    doc_sd : float
        ``σ``, document-level log-normal dispersion of the shares.
    tokens : (int, int)
        Range of content tokens per document.
    zipf : float
        Zipf exponent ``a`` of keyword weights.

    Returns
    -------
    documents : DataFrame
        ``doc_id, date, issuer, title, text``.
    truth : dict
        ``seed``, settings, per-document ``p`` and realised counts, and the
        pooled expected (``pooled_expected_pct``) and realised
        (``pooled_realized_pct``) shares: the realised share is what an exact
        counter of the generated tokens returns.
    """
    from lib.data.published import policy_themes

    themes = themes or load_themes()
    names = themes.names
    if base_pct is None:
        printed = policy_themes().set_index("theme")["frequency_pct"]
        base_pct = {t: float(printed[t]) for t in names}
    if trend is None:
        trend = dict(zip(names, (0.5, 0.0, -0.3)))
    unknown = sorted((set(base_pct) | set(trend)) - set(names))
    if unknown:
        raise ValueError(f"simulate_corpus: unknown themes {unknown}; themes are {names}")
    rng = np.random.default_rng(seed)
    kw = themes.keywords("zh")
    weights = {}
    for t in names:
        w = np.arange(1, len(kw[t]) + 1, dtype=float) ** -zipf
        weights[t] = rng.permutation(w) / w.sum()
    y0, y1 = years
    mid = (y0 + y1) / 2
    issuers = ("国务院", "国务院办公厅", "商务部", "海关总署", "国家税务总局", "财政部", "国家外汇管理局",
               "市场监管总局")
    filler = np.array(FILLER_ZH)
    docs, per_doc = [], []
    for d in range(n_docs):
        year = int(rng.integers(y0, y1 + 1))
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        s = 2 * (year - mid) / (y1 - y0) if y1 > y0 else 0.0
        u = rng.normal(0.0, doc_sd, len(names))
        p = np.array([base_pct[t] / 100 * (1 + trend.get(t, 0.0) * s) for t in names])
        p = np.clip(p, 0, None) * np.exp(u - doc_sd ** 2 / 2)
        if p.sum() >= 1:
            raise ValueError(f"simulate_corpus: theme probabilities sum to {p.sum():.3f} >= 1 in a document")
        n = int(rng.integers(tokens[0], tokens[1] + 1))
        cat = rng.choice(len(names) + 1, size=n, p=np.append(p, 1 - p.sum()))
        words = np.empty(n, dtype=object)
        counts = {}
        for k, t in enumerate(names):
            idx = np.flatnonzero(cat == k)
            words[idx] = np.array(kw[t], dtype=object)[rng.choice(len(kw[t]), size=idx.size, p=weights[t])]
            counts[t] = int(idx.size)
        idx = np.flatnonzero(cat == len(names))
        words[idx] = filler[rng.integers(0, filler.size, idx.size)]
        stop_after = rng.random(n) < 0.25
        stop_word = rng.integers(0, len(_GEN_STOP), n)
        sentence_len = rng.integers(8, 21, n)
        pieces, since = [], 0
        for i in range(n):
            pieces.append(words[i])
            since += 1
            if since >= sentence_len[i]:
                pieces.append("。")
                since = 0
            elif stop_after[i] and i + 1 < n:
                pieces.append(_GEN_STOP[stop_word[i]])
            elif since % 6 == 0:
                pieces.append("，")
        if pieces[-1] != "。":
            pieces.append("。")
        doc_id = f"S{d + 1:03d}"
        docs.append({"doc_id": doc_id, "date": f"{year}-{month:02d}-{day:02d}",
                     "issuer": issuers[int(rng.integers(0, len(issuers)))],
                     "title": f"合成示范文本 {doc_id}（非真实政策文件）", "text": "".join(pieces)})
        per_doc.append({"doc_id": doc_id, "year": year, "n_tokens": n,
                        **{f"p {t}": float(100 * pk) for t, pk in zip(names, p)},
                        **{t: counts[t] for t in names}})
    pdf = pd.DataFrame(per_doc)
    total = int(pdf["n_tokens"].sum())
    truth = {
        "seed": int(seed), "n_docs": n_docs, "years": list(years), "base_pct": dict(base_pct),
        "trend": dict(trend), "doc_sd": doc_sd, "tokens": list(tokens), "zipf": zipf,
        "note": "SYNTHETIC demonstration corpus generated by lib.data.policy_corpus.simulate_corpus; not policy text.",
        "pooled_expected_pct": {t: float((pdf[f"p {t}"] * pdf["n_tokens"]).sum() / total) for t in names},
        "pooled_realized_pct": {t: float(100 * pdf[t].sum() / total) for t in names},
        "content_tokens": total,
        "documents": pdf.to_dict(orient="records"),
    }
    return pd.DataFrame(docs), truth


def write_synthetic_corpus(directory: str | Path = SYNTHETIC_DIR, *, seed: int = SYNTHETIC_SEED,
                           **kwargs: Any) -> Path:
    """Write the synthetic corpus as a folder :func:`load_corpus` reads.

    ``<directory>/S001.txt ...`` (one document each), ``metadata.csv``
    (``id, date, issuer, title``) and ``truth.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("S*.txt"):
        old.unlink()
    docs, truth = simulate_corpus(seed=seed, **kwargs)
    for r in docs.itertuples(index=False):
        (directory / f"{r.doc_id}.txt").write_text(r.text + "\n", encoding="utf-8")
    docs.drop(columns="text").rename(columns={"doc_id": "id"}).to_csv(directory / "metadata.csv",
                                                                      index=False)
    (directory / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False, sort_keys=True)
                                          + "\n", encoding="utf-8")
    return directory

def main() -> None:  # pragma: no cover - regenerates shipped data
    path = write_synthetic_corpus()
    print(f"wrote the synthetic demonstration corpus to {path.relative_to(ROOT)}")


if __name__ == "__main__":  # pragma: no cover
    main()

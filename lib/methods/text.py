"""Policy-text theme analysis: tokenise documents, count theme keywords.

The CBEC paper (§2.1, Tables 1-2) counts the keywords of three themes in 64
national policy documents on the CBEC pilot areas and reports each theme's
frequency. This module re-implements that count, states its rule, and ships
what can be shipped: the public facts about the documents and a seeded
**synthetic** demonstration corpus with known theme shares.

The counting rule
-----------------
1. **Tokens.** Chinese text is segmented by jieba's precise mode
   (Sun, jieba 0.42) with every theme keyword added to its dictionary, so that
   multi-character terms (``物流信息化``, ``跨境服务生态``) stay one token.
   English text is lower-cased and split into words; multi-word keywords
   (``supply chain``, ``risk prevention and control``) are then merged
   greedily, longest first, into one token, so a keyword is one token in
   both languages.
2. **Content tokens** are the tokens left after removing punctuation and
   symbols, whitespace, pure numbers (Arabic or Chinese numerals) and the stop
   words of ``data/raw/policy/stopwords_{zh,en}.txt``.
3. A **theme token** is a content token equal to one of the theme's keywords.
   A keyword inside a longer dictionary word does not count (``海关监管`` is
   one jieba word, neither 海关 nor 监管) unless ``split_compounds=True``,
   which removes such compounds from the dictionary.

.. math::

    f_{dk} = \\frac{\\#\\{\\text{theme-}k\\text{ tokens in } d\\}}{\\#\\{\\text{content tokens in } d\\}},
    \\qquad
    F_k = \\frac{\\sum_d \\#\\{\\text{theme-}k\\text{ tokens in } d\\}}{\\sum_d \\#\\{\\text{content tokens in } d\\}}

``f_dk`` is the per-document frequency, ``F_k`` the pooled (token-weighted)
frequency the paper's Table 2 reports; the unweighted mean of ``f_dk`` is also
returned. The paper does not state its rule; this one is the book's.

The corpora, the theme dictionary and the stop words are data:
:mod:`lib.data.policy_corpus`.
"""

from __future__ import annotations

import logging
import re
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.data.policy_corpus import LANGUAGES as _LANGS
from lib.data.policy_corpus import Corpus, CorpusError, Themes, _check_language, load_stopwords, load_themes

__all__ = [
    "ThemeFrequencies",
    "detect_language",
    "tokenize",
    "theme_frequencies",
    "comparison_rows",
    "recovery",
    "plot_shares_by_year",
    "plot_top_keywords",
]

_CJK = re.compile(r"[\u3400-\u9fff]")
_EN_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_NUMERIC = re.compile(r"^[0-9０-９.,%．一二三四五六七八九十百千万亿〇零两第]+$")


# --------------------------------------------------------------------------- tokenising
def detect_language(text: str) -> str:
    """``"zh"`` when at least 20 % of the letters are CJK characters, else ``"en"``."""
    cjk = len(_CJK.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    return "zh" if letters and cjk / letters >= 0.2 else "en"


def _quiet_jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@lru_cache(maxsize=8)
def _zh_tokenizer(keywords: tuple[str, ...], split_compounds: bool):
    """A private jieba tokenizer with ``keywords`` in its dictionary.

    A private instance (not jieba's global one) keeps the book's keywords out
    of any other use of jieba in the same process; its cache file goes to the
    system temp directory, the only place jieba writes.
    """
    jieba = _quiet_jieba()
    tok = jieba.Tokenizer()
    tok.tmp_dir = tempfile.gettempdir()
    tok.initialize()
    if split_compounds and keywords:
        pattern = re.compile("|".join(map(re.escape, sorted(keywords, key=len, reverse=True))))
        kw = set(keywords)
        compounds = [w for w, f in tok.FREQ.items() if f and w not in kw and pattern.search(w)]
        for w in compounds:
            tok.del_word(w)
    for w in sorted(keywords, key=len):
        # suggest_freq(tune=True) raises the frequency until jieba keeps the word whole
        tok.add_word(w)
        tok.suggest_freq(w, tune=True)
    return tok


def _is_content(token: str, stopwords: frozenset[str]) -> bool:
    token = token.strip()
    if not token:
        return False
    if all(unicodedata.category(ch)[0] in "PSZC" for ch in token):
        return False
    if _NUMERIC.match(token):
        return False
    return token.lower() not in stopwords


def _merge_phrases(words: list[str], phrases: Iterable[str]) -> list[str]:
    """Greedy longest-first merge of multi-word ``phrases`` into single tokens."""
    table: dict[tuple[str, ...], str] = {}
    for p in phrases:
        parts = tuple(_EN_WORD.findall(p.lower()))
        if len(parts) > 1:
            table[parts] = p.lower()
    if not table:
        return words
    longest = max(len(k) for k in table)
    out, i = [], 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 1, -1):
            hit = table.get(tuple(words[i:i + n]))
            if hit is not None:
                out.append(hit)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def tokenize(text: str, *, language: str = "auto", keywords: Sequence[str] = (),
             stopwords: Iterable[str] | None = None, split_compounds: bool = False) -> list[str]:
    """Content tokens of ``text`` under the module's counting rule.

    Parameters
    ----------
    text : str
        One document.
    language : {"auto", "zh", "en"}
        ``"auto"`` uses :func:`detect_language`.
    keywords : sequence of str
        Terms that must stay whole: added to jieba's dictionary (Chinese) or
        merged from words (English, multi-word terms).
    stopwords : iterable of str, optional
        Default: the shipped list of the language.
    split_compounds : bool
        Chinese only: remove dictionary words that contain a keyword, so the
        keyword inside them is counted (``海关监管`` -> ``海关``, ``监管``).

    Returns
    -------
    list of str
        Tokens in text order; punctuation, whitespace, numbers and stop words
        removed. English tokens are lower-cased.

    Examples
    --------
    >>> tokenize("Supply chain finance and the platform.", language="en",
    ...          keywords=["supply chain"])
    ['supply chain', 'finance', 'platform']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a string, got {type(text).__name__}")
    if language == "auto":
        language = detect_language(text)
    _check_language(language)
    stop = load_stopwords(language) if stopwords is None else frozenset(s.lower() for s in stopwords)
    if language == "en":
        words = _merge_phrases(_EN_WORD.findall(text.lower()), keywords)
    else:
        tok = _zh_tokenizer(tuple(sorted(set(keywords))), bool(split_compounds))
        words = [w.lower() if w.isascii() else w for w in tok.cut(text, HMM=True)]
    return [w for w in words if _is_content(w, stop)]

# --------------------------------------------------------------------------- counting
@dataclass(frozen=True)
class ThemeFrequencies:
    """Theme-keyword counts of a corpus.

    Attributes
    ----------
    per_document : DataFrame
        One row per document: ``doc_id, year, language, n_tokens`` and, per
        theme, ``<theme>`` (count) and ``<theme> %`` (per-document frequency).
    keyword_counts : DataFrame
        ``theme, keyword, keyword_en, count`` over the whole corpus (zeros kept).
    themes : list of str
    spec : dict
        The rule's settings (split_compounds, languages seen).
    """

    per_document: pd.DataFrame
    keyword_counts: pd.DataFrame
    themes: list[str]
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return int(self.per_document["n_tokens"].sum())

    def pooled(self) -> pd.DataFrame:
        """Per theme: keyword tokens, content tokens, pooled % and mean per-document %."""
        pd_ = self.per_document
        total = self.n_tokens
        rows = {t: {"theme tokens": int(pd_[t].sum()), "content tokens": total,
                    "pooled %": 100 * pd_[t].sum() / total if total else np.nan,
                    "mean of documents %": pd_[f"{t} %"].mean()} for t in self.themes}
        out = pd.DataFrame(rows).T
        out.index.name = "theme"
        return out.astype({"theme tokens": "int64", "content tokens": "int64"})

    def by_year(self) -> pd.DataFrame:
        """Pooled % per theme and year of issue (documents without a year are left out)."""
        df = self.per_document.dropna(subset=["year"])
        g = df.groupby("year")
        out = pd.DataFrame({t: 100 * g[t].sum() / g["n_tokens"].sum() for t in self.themes})
        out["documents"] = g.size()
        out.index = out.index.astype(int)
        return out

    def top_keywords(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` most frequent keywords of each theme with their share of content tokens (%)."""
        kc = self.keyword_counts.copy()
        kc["% of tokens"] = 100 * kc["count"] / self.n_tokens if self.n_tokens else np.nan
        kc = kc.sort_values(["theme", "count", "keyword"], ascending=[True, False, True], kind="stable")
        out = kc.groupby("theme", sort=False).head(n)
        out["theme"] = pd.Categorical(out["theme"], self.themes, ordered=True)
        return out.sort_values(["theme", "count"], ascending=[True, False]).reset_index(drop=True)

    def tidy(self) -> pd.DataFrame:
        """Long frame: one row per document and theme (count, tokens, %)."""
        pd_ = self.per_document
        rows = [pd.DataFrame({"doc_id": pd_["doc_id"], "year": pd_["year"], "theme": t,
                              "count": pd_[t], "n_tokens": pd_["n_tokens"], "pct": pd_[f"{t} %"]})
                for t in self.themes]
        return pd.concat(rows, ignore_index=True)


def theme_frequencies(corpus: Corpus | pd.DataFrame, themes: Themes | None = None, *,
                      language: str = "auto", split_compounds: bool = False) -> ThemeFrequencies:
    """Count theme keywords in every document of ``corpus``.

    Parameters
    ----------
    corpus : Corpus or DataFrame
        A DataFrame needs ``doc_id`` and ``text`` (``year`` optional).
    themes : Themes, optional
        Default :func:`load_themes`.
    language : {"auto", "zh", "en"}
        Per document when ``"auto"``: Chinese documents are counted with the
        Chinese keywords, English ones with the English keywords.
    split_compounds : bool
        See :func:`tokenize`.

    Returns
    -------
    ThemeFrequencies

    Notes
    -----
    Per-document frequency :math:`f_{dk} = c_{dk} / n_d` and pooled frequency
    :math:`F_k = \\sum_d c_{dk} / \\sum_d n_d`, with :math:`c_{dk}` the theme-k
    keyword tokens and :math:`n_d` the content tokens of document d (module
    docstring). This is the relative-frequency measure of dictionary methods
    (Grimmer & Stewart 2013, "Text as Data", Political Analysis 21(3)).
    """
    themes = themes or load_themes()
    docs = corpus.documents if isinstance(corpus, Corpus) else corpus
    for col in ("doc_id", "text"):
        if col not in docs.columns:
            raise CorpusError(f"theme_frequencies: the corpus needs a {col!r} column; has {list(docs.columns)}")
    names = themes.names
    lookups = {lang: themes.lookup(lang) for lang in _LANGS}
    zh_by_en = dict(zip(themes.frame["keyword_en"].str.lower(), themes.frame["keyword_zh"]))
    total_counts: Counter = Counter()
    rows = []
    for doc in docs.itertuples(index=False):
        lang = detect_language(doc.text) if language == "auto" else language
        lookup = lookups[lang]
        tokens = tokenize(doc.text, language=lang, keywords=list(lookup), split_compounds=split_compounds)
        hits = Counter(t for t in tokens if t in lookup)
        # English hits are stored under the Chinese keyword so both languages pool
        for kw, c in hits.items():
            total_counts[kw if lang == "zh" else zh_by_en[kw]] += c
        row = {"doc_id": doc.doc_id, "year": getattr(doc, "year", pd.NA), "language": lang,
               "n_tokens": len(tokens)}
        for t in names:
            c = sum(n for kw, n in hits.items() if lookup[kw] == t)
            row[t] = c
            row[f"{t} %"] = 100 * c / len(tokens) if tokens else np.nan
        rows.append(row)
    per_doc = pd.DataFrame(rows)
    per_doc["year"] = pd.array(per_doc["year"], dtype="Int64")
    kc = themes.frame[["theme", "keyword_zh", "keyword_en"]].rename(columns={"keyword_zh": "keyword"})
    kc["count"] = [int(total_counts.get(k, 0)) for k in kc["keyword"]]
    return ThemeFrequencies(per_document=per_doc, keyword_counts=kc.reset_index(drop=True), themes=names,
                            spec={"split_compounds": split_compounds,
                                  "languages": sorted(set(per_doc["language"]))})


def comparison_rows(freq: ThemeFrequencies, truth: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Rows for ``lib.present.tables.comparison_table``: pooled % by theme, with paper and truth.

    ``truth`` is the synthetic corpus's ``truth.json`` (its ``pooled_realized_pct``);
    None gives an empty truth column.
    """
    from lib.data.published import policy_themes

    paper = policy_themes().set_index("theme")["frequency_pct"]
    pooled = freq.pooled()
    real = (truth or {}).get("pooled_realized_pct", {})
    return pd.DataFrame({
        "quantity": [f"{t} (%)" for t in freq.themes],
        "paper": [paper.get(t, np.nan) for t in freq.themes],
        "book": [pooled.loc[t, "pooled %"] for t in freq.themes],
        "truth": [real.get(t, np.nan) for t in freq.themes],
    })


def recovery(freq: ThemeFrequencies, truth: Mapping[str, Any]) -> pd.DataFrame:
    """Counted against generated: theme tokens, content tokens and % for a synthetic corpus.

    Returns
    -------
    DataFrame
        Index: the themes plus ``"content tokens"``; columns ``generated``,
        ``counted``, ``counted - generated``; the % rows are
        ``<theme> (%)``.
    """
    td = pd.DataFrame(truth["documents"])
    if set(td["doc_id"]) != set(freq.per_document["doc_id"]):
        raise ValueError("recovery: the truth describes other documents than the ones counted")
    gen_total, got_total = int(td["n_tokens"].sum()), freq.n_tokens
    rows = {}
    for t in freq.themes:
        rows[f"{t} (tokens)"] = (int(td[t].sum()), int(freq.per_document[t].sum()))
    rows["content tokens"] = (gen_total, got_total)
    for t in freq.themes:
        rows[f"{t} (%)"] = (100 * td[t].sum() / gen_total, 100 * freq.per_document[t].sum() / got_total)
    out = pd.DataFrame(rows, index=["generated", "counted"]).T.astype(float)
    out["counted - generated"] = out["counted"] - out["generated"]
    return out

# --------------------------------------------------------------------------- figures
def plot_shares_by_year(freq: ThemeFrequencies, truth: Mapping[str, Any] | None = None, *,
                        paper: bool = True, ax: Any = None) -> Any:
    """Pooled theme share (%) by year of issue, one line per theme.

    With ``truth`` (the synthetic corpus's ``truth.json``) the realised
    shares of the generated tokens are drawn as hollow markers; with
    ``paper`` the paper's pooled 2015-2024 shares as dotted horizontal lines.
    """
    from lib.present.figures import MARKERS, PALETTE, new_axes
    from lib.data.published import policy_themes

    by = freq.by_year()
    fig, ax = new_axes(ax)
    if by.empty:
        # a reader's corpus without dates: say so on the figure rather than fail the page
        ax.text(0.5, 0.5, "No document has a year of issue:\ngive dates in metadata.csv or the CSV's "
                "date column", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colours = [PALETTE["book"], PALETTE["treated"], PALETTE["highlight"]]
    printed = policy_themes().set_index("theme")["frequency_pct"]
    true_by = None
    if truth is not None:
        td = pd.DataFrame(truth["documents"])
        g = td.groupby("year")
        true_by = pd.DataFrame({t: 100 * g[t].sum() / g["n_tokens"].sum() for t in freq.themes})
    for t, c in zip(freq.themes, colours):
        ax.plot(by.index, by[t], marker=MARKERS["book"], color=c, label=f"book: {t}")
        if true_by is not None:
            ax.scatter(true_by.index, true_by[t], marker=MARKERS["truth"], facecolors="none",
                       edgecolors=c, s=70, linewidths=1.2, zorder=4)
        if paper and t in printed:
            ax.axhline(printed[t], color=c, lw=1.0, ls=":")
    if true_by is not None:
        ax.scatter([], [], marker=MARKERS["truth"], facecolors="none", edgecolors="black",
                   label="truth (generated tokens)")
    if paper:
        ax.plot([], [], color="black", ls=":", lw=1.0, label="paper (pooled, as printed)")
    ax.set_xlabel("Year of issue")
    ax.set_ylabel("Theme keywords, % of content tokens")
    ax.set_xticks(by.index)
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_top_keywords(freq: ThemeFrequencies, n: int = 8, *, axes: Any = None) -> Any:
    """Horizontal bar chart of each theme's ``n`` most frequent keywords (one panel per theme).

    Bars are labelled with the paper's English term (the Chinese keyword
    counted is in :meth:`ThemeFrequencies.top_keywords`); lengths are % of
    all content tokens.
    """
    import matplotlib.pyplot as plt

    from lib.present.figures import PALETTE

    top = freq.top_keywords(n)
    k = len(freq.themes)
    if axes is None:
        fig, axes = plt.subplots(1, k, figsize=(4.0 * k, 0.45 * n + 1.6), sharex=True)
    else:
        fig = np.ravel(axes)[0].figure
    axes = np.ravel(axes)
    colours = [PALETTE["book"], PALETTE["treated"], PALETTE["highlight"]]
    for ax, t, c in zip(axes, freq.themes, colours):
        sub = top[top["theme"] == t].iloc[::-1]
        # English labels: the book's figure fonts have no CJK glyphs (the table beside shows both)
        ax.barh(list(sub["keyword_en"]), sub["% of tokens"], color=c)
        # the panel's theme goes in the axis label, where it cannot cover a bar
        ax.set_xlabel(f"{t}\n% of content tokens")
        ax.grid(axis="y", visible=False)
    return fig

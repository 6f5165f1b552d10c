"""Policy-text theme counts (lib.methods.text) and corpora (lib.data.policy_corpus): hand-counted corpora, known-truth recovery, loaders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.data import facts
from lib.data import policy_corpus as corpora
from lib.methods import text

DIG, SVC, BIZ = "Digital infrastructure", "Service industry agglomeration", "Business environment"

# Hand count, English: content tokens after dropping stop words (the, and), punctuation and the
# number 2021, with multi-word keywords merged:
#   supply chain | platform | supports | payment | data | customs | regulation |
#   logistics informatization | logistics | risk prevention and control          -> 10 tokens
# digital: platform, payment, data, logistics informatization = 4
# service: supply chain, logistics = 2
# business: customs, regulation, risk prevention and control = 3
EN_DOC = ("The supply chain platform supports payment data, and customs regulation. "
          "Logistics informatization and logistics! 2021 Risk prevention and control.")
EN_TOKENS = ["supply chain", "platform", "supports", "payment", "data", "customs", "regulation",
             "logistics informatization", "logistics", "risk prevention and control"]

# Hand count, Chinese: the stop words 的, 和, 与 and the punctuation go; 物流信息化 and
# 跨境服务生态 stay whole because they are keywords:
#   加强 数据 平台 建设 完善 海关 监管 物流信息化 推动 供应链 金融 跨境服务生态   -> 12 tokens
# digital: 数据 平台 物流信息化 = 3; service: 供应链 金融 跨境服务生态 = 3; business: 海关 监管 = 2
ZH_DOC = "加强数据平台建设，完善海关的监管和物流信息化。推动供应链金融与跨境服务生态！"
ZH_TOKENS = ["加强", "数据", "平台", "建设", "完善", "海关", "监管", "物流信息化", "推动", "供应链",
             "金融", "跨境服务生态"]


@pytest.fixture(scope="module")
def themes():
    return corpora.load_themes()


def test_theme_file_matches_the_papers_keyword_lists(themes):
    from lib.data.published import policy_themes

    printed = policy_themes().set_index("theme")["keywords"]
    for theme, words in themes.keywords("en").items():
        assert list(words) == [w.strip().lower() for w in printed[theme].split(";")]
    zh = themes.frame["keyword_zh"]
    assert zh.str.len().gt(0).all() and not zh.duplicated().any()


def test_english_tokens_and_frequencies_match_the_hand_count(themes):
    kw = list(themes.lookup("en"))
    assert text.tokenize(EN_DOC, language="en", keywords=kw) == EN_TOKENS
    freq = text.theme_frequencies(pd.DataFrame({"doc_id": ["en"], "text": [EN_DOC]}), themes)
    row = freq.per_document.iloc[0]
    assert row["language"] == "en" and row["n_tokens"] == 10
    assert (row[DIG], row[SVC], row[BIZ]) == (4, 2, 3)
    assert row[f"{DIG} %"] == pytest.approx(40.0) and row[f"{BIZ} %"] == pytest.approx(30.0)


def test_chinese_tokens_and_frequencies_match_the_hand_count(themes):
    kw = list(themes.lookup("zh"))
    assert text.tokenize(ZH_DOC, language="zh", keywords=kw) == ZH_TOKENS
    freq = text.theme_frequencies(pd.DataFrame({"doc_id": ["zh"], "text": [ZH_DOC]}), themes)
    row = freq.per_document.iloc[0]
    assert row["language"] == "zh" and row["n_tokens"] == 12
    assert (row[DIG], row[SVC], row[BIZ]) == (3, 3, 2)
    kc = freq.keyword_counts.set_index("keyword")["count"]
    assert kc["物流信息化"] == 1 and kc["物流"] == 0  # the whole term, not its head


def test_pooled_is_token_weighted_and_differs_from_the_mean_of_documents(themes):
    docs = pd.DataFrame({"doc_id": ["en", "zh"], "text": [EN_DOC, ZH_DOC], "year": [2019, 2020]})
    freq = text.theme_frequencies(docs, themes)
    pooled = freq.pooled()
    # digital: (4 + 3) / (10 + 12); mean of documents: (40 + 25) / 2
    assert pooled.loc[DIG, "pooled %"] == pytest.approx(100 * 7 / 22)
    assert pooled.loc[DIG, "mean of documents %"] == pytest.approx((40 + 25) / 2)
    assert pooled.loc[BIZ, "theme tokens"] == 5 and pooled.loc[BIZ, "content tokens"] == 22
    # English hits pool with the Chinese keyword they translate
    kc = freq.keyword_counts.set_index("keyword")["count"]
    assert kc["数据"] == 2 and kc["供应链"] == 2 and kc["风险防控"] == 1
    by = freq.by_year()
    assert by.loc[2019, DIG] == pytest.approx(40.0) and by.loc[2020, "documents"] == 1
    assert len(freq.tidy()) == 6


def test_compounds_containing_keywords_are_split_only_on_request(themes):
    kw = list(themes.lookup("zh"))
    assert text.tokenize("海关监管与电子商务", language="zh", keywords=kw) == ["海关监管", "电子商务"]
    assert text.tokenize("海关监管与电子商务", language="zh", keywords=kw,
                         split_compounds=True) == ["海关", "监管", "电子", "商务"]


def test_numbers_punctuation_and_stopwords_are_not_tokens():
    assert text.tokenize("2021年，12.5%！的 和", language="zh") == ["年"]
    assert text.tokenize("In 2021, 12.5% of the ... data.", language="en") == ["data"]
    assert text.detect_language(ZH_DOC) == "zh" and text.detect_language(EN_DOC) == "en"


def test_a_keyword_under_two_themes_is_rejected(tmp_path, themes):
    bad = themes.frame.copy()
    bad.loc[0, "keyword_zh"] = bad.loc[20, "keyword_zh"]
    path = tmp_path / "themes.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(corpora.CorpusError, match="more than one theme"):
        corpora.load_themes(path)


def test_generator_is_seeded_and_its_shares_are_recovered(themes):
    kwargs = dict(n_docs=12, tokens=(400, 700))
    docs, truth = corpora.simulate_corpus(seed=7, **kwargs)
    again, _ = corpora.simulate_corpus(seed=7, **kwargs)
    pd.testing.assert_frame_equal(docs, again)
    assert not docs["text"].equals(corpora.simulate_corpus(seed=8, **kwargs)[0]["text"])
    freq = text.theme_frequencies(docs.assign(year=pd.to_datetime(docs["date"]).dt.year), themes)
    pooled = freq.pooled()["pooled %"]
    total = truth["content_tokens"]
    for t in (DIG, SVC, BIZ):
        real = truth["pooled_realized_pct"][t]
        # realised counts are the generated tokens: an exact counter returns them; jieba merges a few
        # adjacent words into dictionary compounds, so allow 0.15 percentage points
        assert abs(pooled[t] - real) < 0.15, (t, pooled[t], real)
        # the realised share is a binomial draw around the expected one (4 s.e.)
        exp = truth["pooled_expected_pct"][t] / 100
        assert abs(real / 100 - exp) < 4 * np.sqrt(exp * (1 - exp) / total) + 0.004
    assert freq.n_tokens == pytest.approx(total, rel=0.01)


def test_shipped_synthetic_corpus_is_the_generator_output_and_recovered():
    corpus = corpora.load_corpus("")
    assert corpus.synthetic and len(corpus) == 64
    docs, truth = corpora.simulate_corpus(seed=corpus.truth["seed"])
    assert [t + "\n" for t in docs["text"]] == corpus.documents["text"].tolist()
    assert truth["pooled_realized_pct"] == pytest.approx(corpus.truth["pooled_realized_pct"])
    assert corpus.documents["year"].between(2015, 2024).all()


def test_folder_and_csv_corpora_load(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "2019_tax.txt").write_text(ZH_DOC, encoding="utf-8")
    (folder / "b.txt").write_text(EN_DOC, encoding="utf-8")
    corpus = corpora.load_corpus(folder)
    assert corpus.documents["year"].tolist()[0] == 2019 and pd.isna(corpus.documents["year"].iloc[1])
    pd.DataFrame({"id": ["b"], "date": ["2021-03-01"], "issuer": ["MOFCOM"], "title": ["t"]}).to_csv(
        folder / "metadata.csv", index=False)
    docs = corpora.load_corpus(folder).documents.set_index("doc_id")
    assert docs.loc["b", "year"] == 2021 and docs.loc["b", "issuer"] == "MOFCOM"
    csv = tmp_path / "docs.csv"
    pd.DataFrame({"id": [1, 2], "date": ["2016", "2020-05-01"], "text": [ZH_DOC, EN_DOC]}).to_csv(
        csv, index=False)
    docs = corpora.load_corpus(csv).documents
    assert docs["year"].tolist() == [2016, 2020] and docs["issuer"].tolist() == ["", ""]


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no .txt files"),
    (lambda p: (p / "e.csv").write_text("") and p / "e.csv" or p / "e.csv", "is empty"),
    (lambda p: (p / "n.csv").write_text("id,body\n1,x\n") and p / "n.csv", r"\['text'\] missing"),
    (lambda p: (p / "h.csv").write_text("id,text\n") and p / "h.csv", "no documents"),
    (lambda p: (p / "d.csv").write_text("id,text\n1,a\n1,b\n") and p / "d.csv", r"ids \['1'\]"),
    (lambda p: (p / "t.csv").write_text("id,text\n1,a\n2, \n") and p / "t.csv", r"no text: \['2'\]"),
    (lambda p: (p / "x.csv").write_text("id,date,text\n1,soon,a\n") and p / "x.csv", "cannot be read"),
])
def test_bad_corpus_paths_raise_clear_errors(tmp_path, make, message):
    with pytest.raises(corpora.CorpusError, match=message):
        corpora.load_corpus(make(tmp_path))


def test_policy_documents_derive_the_replies_from_the_batch_file():
    docs = corpora.policy_documents()
    replies = docs[docs["source"].str.startswith("pilot batch")]
    batches = facts.pilot_batches().groupby("batch").first()
    assert len(replies) == 7
    assert replies["document_number"].tolist() == batches["document_number"].tolist()
    assert replies["title"].iloc[1] == "国务院关于同意在天津等12个城市设立跨境电子商务综合试验区的批复"
    assert "城市和地区" in replies["title"].iloc[4]  # batch 5 includes Xiong'an and Dehong
    assert replies["check"].iloc[5:].str.contains("recalled").all()
    paper = docs[docs["source"] == "paper Table 1"]
    assert paper["no"].tolist() == ["1", "2", "3", "64"]
    assert paper["title"].iloc[0] == replies["title"].iloc[0]


def test_comparison_rows_carry_paper_and_truth():
    corpus = corpora.load_corpus("")
    freq = text.theme_frequencies(corpus.documents.head(3))
    rows = text.comparison_rows(freq, corpus.truth)
    assert rows["paper"].tolist() == [3.55, 4.85, 2.57]
    assert rows["truth"].tolist() == [corpus.truth["pooled_realized_pct"][t] for t in (DIG, SVC, BIZ)]
    assert json.dumps(corpus.truth["base_pct"])  # truth file is plain JSON


def test_recovery_table_compares_counted_with_generated_tokens():
    docs, truth = corpora.simulate_corpus(seed=3, n_docs=4, tokens=(300, 400))
    freq = text.theme_frequencies(docs)
    rec = text.recovery(freq, truth)
    gen = pd.DataFrame(truth["documents"])
    assert rec.loc["content tokens", "generated"] == gen["n_tokens"].sum()
    assert rec.loc["content tokens", "counted"] == freq.n_tokens
    for t in (DIG, SVC, BIZ):
        assert rec.loc[f"{t} (tokens)", "generated"] == gen[t].sum()
        # on this corpus joined neighbours only lose keywords; none is invented
        assert rec.loc[f"{t} (tokens)", "counted"] <= rec.loc[f"{t} (tokens)", "generated"]
        assert rec.loc[f"{t} (%)", "generated"] == pytest.approx(truth["pooled_realized_pct"][t])
    with pytest.raises(ValueError, match="other documents"):
        text.recovery(text.theme_frequencies(docs.head(2)), truth)

"""Models other than the bundled ones: a reader of another tokenizer family (byte-level BPE,
as RoBERTa's) built here with random weights, its citations exact; a Hugging Face id refused
in one line unless downloads are allowed (never in tests)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from qa.engine import Engine
from qa.reading.loading import fitted_scorer_path
from qa.reading.scorer import FALLBACK_THRESHOLD, AnswerScorer
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="module")
def roberta_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny RoBERTa question-answering model with a byte-level BPE vocabulary trained on
    the seeds: random weights, a real tokenizer of another family (leading-space tokens)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForQuestionAnswering

    folder = tmp_path_factory.mktemp("roberta-reader")
    bpe = ByteLevelBPETokenizer(trim_offsets=True)
    texts = [p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")]
    bpe.train_from_iterator(texts, vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bos, eos = ("<s>", bpe.token_to_id("<s>")), ("</s>", bpe.token_to_id("</s>"))
    bpe._tokenizer.post_processor = RobertaProcessing(eos, bos, trim_offsets=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],  # no segment ids, as RoBERTa's
    )
    tokenizer.save_pretrained(folder)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=260,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    RobertaForQuestionAnswering(config).save_pretrained(folder)
    return folder


def test_a_reader_of_another_tokenizer_family_cites_exact_characters(
    tmp_path: Path, embedder: Any, roberta_reader: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in ("001_b6733ea8aba2a067", "003_9e887223774c4d77"):
        shutil.copy(SEEDS / f"{seed}.txt", corpus)
    settings = Settings(
        data_dir=tmp_path / "d", corpus=corpus, reader_path=roberta_reader, answer_threshold=0.0
    )
    engine = Engine(settings, embedder=embedder)
    try:
        assert engine.reader is not None and engine.reader.info["trained_here"] is False
        assert engine.answerer is not None and engine.answerer.scorer.threshold == FALLBACK_THRESHOLD
        cited = 0
        for question in ("How many troops did Tajikistan mobilize?", "Who fled into Tajikistan?"):
            for answer in engine.ask(question, max_answers=5).answers:
                for c in answer.citations:
                    text = engine.document(c.doc_id).text
                    assert text[c.start : c.end] == c.text
                    assert c.context[c.context_start : c.context_end] == c.text
                    assert c.text == c.text.strip() and c.text  # no stray leading space of a BPE token
                    cited += 1
        assert cited > 0
    finally:
        engine.close()
    # A scorer fitted for this reader (qa fit --reader) is found by its weights and used.
    fitted = fitted_scorer_path(settings.data_dir, engine.reader.info["weights_sha256"])
    fitted.write_text(AnswerScorer.load(settings.answer_scorer).to_json())
    again = Engine(settings.model_copy(update={"corpus": None}), embedder=embedder)
    try:
        assert again.answerer is not None and again.answerer.scorer.threshold != FALLBACK_THRESHOLD
    finally:
        again.close()


def test_a_hugging_face_id_is_refused_in_one_line_without_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from index.embedder import resolve_model_path
    from qa.cli.main import main

    monkeypatch.delenv("QA_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(FileNotFoundError, match="QA_ALLOW_DOWNLOADS=true"):
        resolve_model_path("BAAI/bge-small-en-v1.5")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_model_path(str(tmp_path / "missing"))
    assert main(["fit", "--reader", "deepset/roberta-base-squad2", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "huggingface-cli download deepset/roberta-base-squad2" in err


def test_an_embedding_model_of_another_dimension_loads_and_a_change_reembeds(tmp_path: Path) -> None:
    """A sentence-transformers folder built here (random weights, 64 dimensions, MiniLM's
    tokenizer): the index is built with it; going back to the bundled model (384) re-embeds
    every passage, and search finds the same document again."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from index.embedder import bundled_model_dir

    bert = tmp_path / "tiny-bert"
    BertModel(
        BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    ).save_pretrained(bert)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (bundled_model_dir() / name).exists():
            shutil.copy(bundled_model_dir() / name, bert / name)
    tiny = tmp_path / "tiny-embedder"
    word = models.Transformer(str(bert), max_seq_length=128)
    SentenceTransformer(modules=[word, models.Pooling(64, "mean"), models.Normalize()]).save(str(tiny))

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "003_9e887223774c4d77.txt", corpus)
    settings = Settings(data_dir=tmp_path / "d", corpus=corpus, reader=False, embedding_model=str(tiny))
    engine = Engine(settings)
    try:
        assert engine.embedder.dim == 64
        counts = engine.health()
        assert counts.passages > 5 and engine.search("Tajikistan reservists", k=1).passages
    finally:
        engine.close()
    back = Engine(settings.model_copy(update={"embedding_model": "all-MiniLM-L6-v2"}))
    try:
        assert back.embedder.dim == 384 and back.health() == counts
        top = back.search("How many reservists did Tajikistan mobilize?", k=1).passages[0]
        assert top.doc_id == "003_9e887223774c4d77" and "20,000" in top.text
    finally:
        back.close()

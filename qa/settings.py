"""All settings in one place, read from ``QA_*`` environment variables or passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.hardware import available_cores
from index.local.vectors import EF_SEARCH, HNSW_THRESHOLD

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_READER = PACKAGE_DIR / "weights" / "reader"
DEFAULT_SCORER = PACKAGE_DIR / "weights" / "answer_scorer.json"
DEFAULT_KINDS = PACKAGE_DIR / "weights" / "answer_kinds.json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="built indexes live here")
    follow_feeds: bool = Field(
        default=True, description="the server reads the followed feeds (POST /feeds) when they are due"
    )
    feed_allow_private: bool = Field(
        default=False,
        description="followed feeds may be on private, loopback or link-local addresses (tests, intranets)",
    )
    mcp_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers /mcp accepts besides loopback (DNS-rebinding protection): e.g. "
        '["news.example:443"]',
    )
    background_import_bytes: int = Field(
        default=1_000_000, ge=0, description="POST /documents/import of a larger file runs as a job (202)"
    )
    feed_poll_tick_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often due feeds are looked for"
    )
    corpus: Path | None = Field(
        default=None, description="folder of news files to index (.txt, .html, feeds, .jsonl)"
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="the bundled MiniLM, a sentence-transformers folder, or a Hugging Face id "
        "(downloaded only with QA_ALLOW_DOWNLOADS=true)",
    )
    allow_downloads: bool = Field(
        default=False,
        description="models named by a Hugging Face id may be downloaded (read from the environment "
        "where the models load)",
    )
    backend: str = Field(
        default="local",
        pattern="^(local|qdrant)$",
        description="where passages live: local (FAISS + BM25 + SQLite in data_dir) or qdrant",
    )
    qdrant_url: str | None = Field(
        default=None,
        description="backend=qdrant: a server or cluster URL, or several nodes' URLs comma-separated "
        "(each call goes to one that answers)",
    )
    qdrant_api_key: str | None = Field(default=None, description="backend=qdrant: the cluster's API key")
    qdrant_path: Path | None = Field(
        default=None, description="backend=qdrant without a URL: a local-mode folder (no server)"
    )
    qdrant_shards: int = Field(default=1, ge=1, description="backend=qdrant: shards of a new collection")
    qdrant_replicas: int = Field(default=1, ge=1, description="backend=qdrant: copies of each shard")
    qdrant_quantization: str = Field(
        default="none",
        pattern="^(none|int8|binary)$",
        description="backend=qdrant: dense vectors kept in RAM quantized (originals on disk, "
        "candidates re-scored with them)",
    )
    qdrant_on_disk: bool = Field(
        default=False, description="backend=qdrant: original vectors and payload on disk (memory-mapped)"
    )
    # How every API replica writes to and reads from the cluster (index.qdrant.backend.ClusterPolicy).
    qdrant_grpc: bool = Field(
        default=False, description="backend=qdrant: talk gRPC (port 6334) instead of REST"
    )
    qdrant_write_batch: int = Field(
        default=256, ge=1, le=10_000, description="backend=qdrant: points per upsert"
    )
    qdrant_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="backend=qdrant: retries of a failed write (backoff 0.5 s, doubling)",
    )
    qdrant_write_ordering: str = Field(
        default="medium",
        pattern="^(weak|medium|strong)$",
        description="backend=qdrant: write ordering across a shard's replicas",
    )
    qdrant_write_consistency: int | None = Field(
        default=None,
        ge=1,
        description="backend=qdrant: replicas that acknowledge a write (new collections; "
        "unset: a majority of the replicas)",
    )
    qdrant_read_consistency: str = Field(
        default="majority",
        pattern="^([1-9][0-9]*|majority|quorum|all)$",
        description="backend=qdrant: replicas a read consults (a majority: every read sees "
        "what a majority acknowledged)",
    )
    qdrant_collection: str = Field(
        default="qa",
        pattern="^[A-Za-z0-9_-]{1,48}$",
        description="prefix of the Qdrant collections (several services can share a cluster)",
    )
    shared_read: bool = Field(
        default=False,
        description="backend=local: open a data directory another process (a server) holds, read-only",
    )
    index_type: str = Field(default="auto", pattern="^(auto|flat|hnsw)$")
    reader_path: Path = DEFAULT_READER
    reader: bool = Field(default=True, description="load the extractive reader")
    reader_precision: str = Field(
        default="auto", pattern="^(auto|fp32|bf16|int8)$", description="auto: bf16 where it pays off"
    )
    embedding_precision: str = Field(
        default="auto", pattern="^(auto|fp32|bf16)$", description="passage embeddings; auto as above"
    )
    candidates: int = Field(default=50, ge=1, description="hits taken from each retriever")
    # Fusion defaults: the best recall@1+@5+@20 of 108 settings on 750 questions of a
    # SQuAD-train open book (python -m qa.evaluation.fit); see README "How answers are chosen".
    fusion: str = Field(
        default="convex", pattern="^(rrf|convex)$", description="how dense and BM25 are fused"
    )
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=0.6, ge=0)
    lexical_weight: float = Field(default=0.4, ge=0)
    proximity_weight: float = Field(default=0.5, ge=0, description="term-proximity boost in hybrid")
    corroborate: int = Field(
        default=3, ge=0, le=20, description="extra passages read per answer that state it verbatim (0: off)"
    )
    corroborate_context: str = Field(
        default="sentence",
        pattern="^(sentence|passage)$",
        description="of a corroborating passage, the reader reads the sentence stating the answer, "
        "or the whole passage",
    )
    answer_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="abstain when no answer's probability reaches this (default: the threshold "
        "fitted with the answer scorer on SQuAD-train episodes)",
    )
    answer_scorer: Path = Field(default=DEFAULT_SCORER, description="fitted answer scorer (JSON)")
    answer_kinds: Path | None = Field(
        default=DEFAULT_KINDS,
        description="what kind of answer each question asks for, fitted on SQuAD train (JSON); "
        "none: answers are not typed",
    )
    # Bounds on one request's reading (README "Bounded work" derives them): top_k=50 passages
    # of news average under 2.5 windows each; a batch reads at most 8 questions' worth.
    max_windows_per_question: int = Field(
        default=128, ge=1, description="reader windows read for one question, best-ranked passages first"
    )
    max_windows_per_request: int = Field(
        default=1024, ge=1, description="reader windows read for one request (a batch shares them)"
    )
    max_waiting_asks: int = Field(
        default=16,
        ge=0,
        description="asks that may wait for the reader beside those computing; more get 503 + Retry-After",
    )
    max_document_bytes: int = Field(default=5_000_000, ge=1)
    max_passages_per_document: int = Field(
        default=5_000,
        ge=1,
        description="a document that splits into more passages is refused (413): embedding 5,000 "
        "passages takes about a minute on 2 cores, while reads go on being served",
    )
    body_timeout: float = Field(default=30.0, gt=0, description="seconds a client may take to send a body")
    api_key: str | None = Field(default=None, description="if set, writes need 'Bearer <key>'")
    protect_reads: bool = Field(default=False, description="with api_key: reads need it too")
    cors_origins: list[str] = Field(default_factory=list, description="allowed CORS origins")
    threads: int = Field(
        default=1,
        ge=0,
        description="threads per model call (torch, ONNX Runtime); 0: every core this process may "
        "use. Model calls from concurrent requests queue for the cores (at most cores/threads at "
        "once), so they never oversubscribe them. With 2 cores, 1 thread answered one question as "
        "fast as 2 and lets two compute at once",
    )
    query_runtime: str = Field(
        default="onnx", pattern="^(onnx|torch)$", description="runtime for query embeddings"
    )
    query_cache_size: int = Field(default=2048, ge=0, description="query embeddings kept (LRU); 0: off")
    hnsw_threshold: int = Field(
        default=HNSW_THRESHOLD, ge=1, description="index_type=auto: HNSW from this many passages, exact below"
    )
    hnsw_ef_search: int = Field(
        default=EF_SEARCH, ge=1, description="HNSW search breadth (recall vs latency)"
    )

    @field_validator("api_key")
    @classmethod
    def _sendable_key(cls, key: str | None) -> str | None:
        """A key a client can send: HTTP header values are Latin-1, one token, no spaces."""
        if not key:
            return None  # QA_API_KEY= (empty): no key
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("the API key must be Latin-1 text (an HTTP header can carry no other)") from None
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in key):
            raise ValueError("the API key must be one word: no spaces or control characters")
        return key

    def compute_threads(self) -> int:
        return self.threads or available_cores()

    def compute_slots(self) -> int:
        """Questions that compute at once on this machine: its cores / threads per call."""
        return max(1, available_cores() // self.compute_threads())

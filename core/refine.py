"""Query refinement: a free-form request turned into the vocabulary phrase(s) to segment.

GenMask lets a VLM rewrite a reasoning query ("the organ that stores bile") into a target
phrase before the DiT segments it. genseg does this through the first-result hook
``genseg_refine_query``; the built-in answer, defined here, grounds the request in the
domain's vocabulary with sentence embeddings (all-MiniLM-L6-v2, mean-pooled, L2-normalised,
cosine). It never guesses: a request that no term matches above the threshold raises a
:class:`~genseg.errors.PromptError` naming the closest terms and their scores.

A term is represented by every text the vocabulary gives it (name, synonyms, description);
its score is the best cosine between the request and any of them, so one precise synonym
is enough for a match and a long synonym list does not dilute it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from genseg.errors import PromptError
from genseg.plugins.schemas import Candidate, RefinedQuery

if TYPE_CHECKING:
    import torch

    from genseg.plugins.manager import LoadedPlugins
    from genseg.plugins.schemas import Vocabulary

DEFAULT_THRESHOLD = 0.54
"""Cosine below which the built-in grounding refuses a request. Chosen on the ``dev`` split
of scripts/data/refine_requests.json (``python scripts/refine_queries.py --calibrate``),
never on the test requests; docs/methods.md, "Query refinement", gives the numbers."""

METHOD = "minilm-cosine"
EXACT = "exact"

# Instruction words carry no content about *what* to segment; left in, they pull every
# request towards the same point of embedding space.
_INSTRUCTION = re.compile(
    r"^\s*(?:please\s+)?(?:(?:segment|outline|highlight|mark|find|show(?:\s+me)?|locate|detect|delineate"
    r"|label|select|mask|where\s+(?:is|are))\b\s*)+",
    re.IGNORECASE,
)

_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def strip_instruction(request: str) -> str:
    """``"segment the liver"`` → ``"the liver"``; the request itself if nothing else is left."""
    stripped = _INSTRUCTION.sub("", request).strip(" .?!")
    return stripped or request.strip()


def term_texts(vocabulary: Vocabulary) -> tuple[list[str], list[str]]:
    """Every text that stands for a term, and the term each belongs to (in vocabulary order)."""
    texts, owners = [], []
    for term in vocabulary.terms:
        for text in (term.name, *term.synonyms, *([term.description] if term.description else [])):
            texts.append(text)
            owners.append(term.name)
    return texts, owners


class SentenceEmbedder:
    """MiniLM sentence vectors (mean over real tokens, L2-normalised), as sentence-transformers
    computes them for all-MiniLM-L6-v2. Vectors of texts already seen are kept: the encoder is
    frozen, and a vocabulary is embedded once per process."""

    def __init__(self, model: Any = None, tokenizer: Any = None, max_length: int = 64) -> None:
        if model is None:
            from transformers.utils import logging

            from genseg.models.text_encoder import load_text_encoder, minilm_path

            logging.disable_progress_bar()  # a loading bar per CLI call is noise next to one result line
            model, tokenizer = load_text_encoder(minilm_path())
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self._cache: dict[str, torch.Tensor] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        import torch

        from genseg.models.text_encoder import encode_prompts

        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:  # padded only to the batch's longest text: masked padding leaves the vectors unchanged
            longest = max(len(ids) for ids in self.tokenizer(missing)["input_ids"])
            pooled = encode_prompts(self.model, self.tokenizer, missing, min(longest, self.max_length)).pooled
            self._cache.update(zip(missing, pooled, strict=True))
        return torch.stack([self._cache[t] for t in texts])


@lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder:
    """The process-wide MiniLM embedder, loaded on first use."""
    return SentenceEmbedder()


def rank_terms(
    request: str, vocabulary: Vocabulary, embedder: SentenceEmbedder | None = None
) -> list[Candidate]:
    """Every term with its best cosine to ``request``, best first (ties by vocabulary order)."""
    texts, owners = term_texts(vocabulary)
    embed = embedder or default_embedder()
    sims = (embed(texts) @ embed([strip_instruction(request)])[0]).tolist()
    best: dict[str, Candidate] = {}
    for text, owner, sim in zip(texts, owners, sims, strict=True):
        score = round(float(sim), 4)  # four decimals: float noise below that cannot reorder terms
        if owner not in best or score > best[owner].score:
            best[owner] = Candidate(term=owner, score=score, matched=text)
    order = {name: i for i, name in enumerate(dict.fromkeys(owners))}
    return sorted(best.values(), key=lambda c: (-c.score, order[c.term]))


def ground_request(
    request: str,
    vocabulary: Vocabulary,
    top_k: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    embedder: SentenceEmbedder | None = None,
) -> RefinedQuery:
    """The built-in refinement: the ``top_k`` terms closest to ``request`` that score at least
    ``threshold``; a PromptError naming the best candidates when none does.

    A request that already is a term's name or synonym is answered without the encoder.
    """
    request = request.strip()
    if not request:
        raise PromptError("empty request", fix='describe what to segment, e.g. "the organ that stores bile"')
    if top_k < 1:
        raise PromptError(f"top_k must be at least 1, got {top_k}", fix="pass --top-k 1 or more")
    common = {"request": request, "domain": vocabulary.domain, "threshold": threshold}
    bare = _ARTICLE.sub("", strip_instruction(request))
    term = vocabulary.lookup(bare)
    if term is not None:
        hit = Candidate(term=term.name, score=1.0, matched=bare)
        return RefinedQuery(
            **common, phrases=[term.name], scores=[1.0], terms=[term.name], method=EXACT, candidates=[hit]
        )
    ranking = rank_terms(request, vocabulary, embedder)
    chosen = [c for c in ranking[:top_k] if c.score >= threshold]
    if not chosen:
        raise no_match_error(request, vocabulary.domain, ranking[:3], threshold)
    return RefinedQuery(
        **common,
        phrases=[c.term for c in chosen],
        scores=[c.score for c in chosen],
        terms=[c.term for c in chosen],
        method=METHOD,
        candidates=ranking[: max(top_k, 3)],
    )


def no_match_error(request: str, domain: str, best: list[Candidate], threshold: float) -> PromptError:
    """The refusal: what was asked, what came closest, and the three ways forward."""
    listed = ", ".join(f"{c.term} ({c.score:.2f})" for c in best) or "none"
    return PromptError(
        f"no {domain} vocabulary term matches {request!r} at cosine >= {threshold:.2f}; closest: {listed}",
        path=f"vocabulary:{domain}",
        fix=f"rephrase the request, lower --threshold, or pass a class name (genseg vocab show {domain})",
    )


def active_vocabulary(domain: str, plugins: LoadedPlugins | None = None) -> Vocabulary:
    """The domain's vocabularies merged into one (a term name seen twice keeps its first entry)."""
    from genseg.plugins.registry import vocabulary
    from genseg.plugins.schemas import Vocabulary

    found = vocabulary(domain, plugins)
    if len(found) == 1:
        return found[0][1]
    terms = {}
    for _, vocab in found:
        for term in vocab.terms:
            terms.setdefault(term.name, term)
    first = found[0][1]
    return Vocabulary(domain=domain, name=first.name, templates=first.templates, terms=list(terms.values()))


def refine(
    request: str,
    domain: str = "generic",
    top_k: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    plugins: LoadedPlugins | None = None,
) -> tuple[str, RefinedQuery]:
    """(plugin, result) of the first plugin whose ``genseg_refine_query`` answers; the built-in
    grounding answers last. The answer is validated as :class:`RefinedQuery`."""
    from genseg.plugins.manager import first_result
    from genseg.plugins.registry import check_domain
    from genseg.plugins.schemas import validate_as

    check_domain(domain, plugins)
    found = first_result(
        "genseg_refine_query",
        plugins,
        request=request,
        domain=domain,
        vocabulary=active_vocabulary(domain, plugins),
        top_k=top_k,
        threshold=threshold,
    )
    if found is None:  # pragma: no cover - the built-in plugin always answers or raises
        raise PromptError(f"no plugin refined {request!r}", fix="pass a class name with --prompt")
    plugin, result = found
    return plugin, validate_as(RefinedQuery, result, f"plugin {plugin}, genseg_refine_query")

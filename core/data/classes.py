"""What each label value of a mask means, built from the prompts and the domain's vocabulary.

Writers receive these records as ``classes`` (:class:`genseg.plugins.schemas.ClassInfo`) so
that a DICOM-SEG, a NIfTI colour table or a raster colour map can name its classes, with the
vocabulary's codes, in the colours of genseg's overlay legend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from genseg.data.palette import class_colour
from genseg.plugins.registry import vocabularies
from genseg.plugins.schemas import ClassInfo

if TYPE_CHECKING:
    from genseg.plugins.manager import LoadedPlugins
    from genseg.plugins.schemas import Term, Vocabulary

_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def find_term(prompt: str, vocabulary: Vocabulary) -> Term | None:
    """The term ``prompt`` names: its name or a synonym, also inside one of the vocabulary's
    templates ("the liver", "liver in a medical scan") or after an article."""
    candidates = [prompt.strip()]
    for template in vocabulary.templates:
        head, _, tail = template.partition("{}")
        text = candidates[0]
        if (head or tail) and text.lower().startswith(head.lower()) and text.lower().endswith(tail.lower()):
            candidates.append(text[len(head) : len(text) - len(tail)])
    candidates.append(_ARTICLE.sub("", candidates[0]))
    for text in candidates:
        if text.strip() and (term := vocabulary.lookup(text)) is not None:
            return term
    return None


def class_infos(
    prompts: Sequence[str], domain: str = "generic", plugins: LoadedPlugins | None = None
) -> list[ClassInfo]:
    """One record per prompt, values 1, 2, ... in prompt order (see :func:`label_values` for
    a single prompt's written value). A prompt that is no term of ``domain``'s vocabularies
    keeps its own text as name, without codes."""
    found = [v for _, v in vocabularies(plugins) if v.domain == domain]
    out = []
    for i, prompt in enumerate(prompts):
        term, source = None, ""
        for vocab in found:
            if (term := find_term(prompt, vocab)) is not None:
                source = vocab.name
                break
        out.append(
            ClassInfo(
                value=i + 1,
                prompt=prompt,
                name=term.name if term else prompt,
                synonyms=list(term.synonyms) if term else [],
                codes=dict(term.codes) if term else {},
                colour=class_colour(i),
                vocabulary=source,
            )
        )
    return out


def label_values(classes: Sequence[ClassInfo], on_value: int) -> list[ClassInfo]:
    """``classes`` with the values a label map holds: a single prompt is written as
    ``on_value`` (255 in a PNG, 1 elsewhere), several as 1, 2, ..."""
    if len(classes) == 1:
        return [classes[0].model_copy(update={"value": int(on_value)})]
    return list(classes)

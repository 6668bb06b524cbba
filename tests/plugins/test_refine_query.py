"""genseg_refine_query: free-form requests grounded in a small fixed vocabulary with real MiniLM."""

from __future__ import annotations

import json
import re
import types

import pytest

from genseg.errors import PromptError
from genseg.plugins import hookimpl, hookspecs
from genseg.plugins.schemas import Vocabulary
from genseg.refine import RefinedQuery, SentenceEmbedder, default_embedder, ground_request, refine

TOY = Vocabulary(
    domain="toy",
    name="toy anatomy and land cover",
    terms=[
        {"name": "heart", "synonyms": ["cardiac"]},
        {"name": "lung", "synonyms": ["lungs", "pulmonary"]},
        {"name": "kidney", "synonyms": ["kidneys", "renal"]},
        {"name": "road", "synonyms": ["street", "highway"]},
        {"name": "water", "synonyms": ["lake", "river"]},
        {"name": "forest", "synonyms": ["trees", "woodland"]},
    ],
)


@hookimpl
def _toy_domains():
    return [{"name": "toy", "description": "a fixed six-term vocabulary for tests"}]


@hookimpl
def _toy_vocabularies():
    return [TOY]


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    module.GENSEG_HOOKSPEC = ">=1.2,<2"
    for key, value in hooks.items():
        setattr(module, key, value)
    return module


TOY_PLUGIN = _plugin(
    "toyvocab", genseg_register_domains=_toy_domains, genseg_register_vocabularies=_toy_vocabularies
)


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return default_embedder()  # the one the hook uses: MiniLM loads once for the whole file


@pytest.mark.parametrize(
    ("request_text", "term"),
    [
        ("the organs we breathe with", "lung"),
        ("a wide river flowing through the valley", "water"),
        ("a dense wood of tall pine trees", "forest"),
        ("the asphalt street between the houses", "road"),
    ],
)
def test_builtin_grounding_picks_the_intended_term(embedder, request_text, term):
    result = ground_request(request_text, TOY, threshold=0.3, embedder=embedder)
    assert result.phrases == [term] and result.terms == [term]
    assert result.method == "minilm-cosine" and 0.3 <= result.scores[0] <= 1.0
    assert result.candidates[0].score > result.candidates[1].score  # a real margin, not a tie


def test_grounding_is_deterministic_across_embedders_and_calls(embedder):
    first = ground_request(
        "the thing that filters blood into urine", TOY, top_k=3, threshold=0.0, embedder=embedder
    )
    again = ground_request(
        "the thing that filters blood into urine", TOY, top_k=3, threshold=0.0, embedder=embedder
    )
    fresh = ground_request(
        "the thing that filters blood into urine", TOY, top_k=3, threshold=0.0, embedder=SentenceEmbedder()
    )
    assert first == again == fresh
    assert first.scores == sorted(first.scores, reverse=True) and len(first.phrases) == 3


def test_exact_names_and_synonyms_skip_the_encoder():
    result = ground_request("segment the kidneys", TOY, embedder=None)
    assert (result.phrases, result.scores, result.method) == (["kidney"], [1.0], "exact")


def test_below_threshold_is_refused_with_candidates_scores_and_fix(embedder):
    with pytest.raises(PromptError) as err:
        ground_request("a cup of coffee", TOY, threshold=0.54, embedder=embedder)
    text = err.value.one_line()
    assert "'a cup of coffee'" in text and "0.54" in text
    assert err.value.fix and "--threshold" in err.value.fix and "class name" in err.value.fix
    closest = re.findall(r"(\w+) \((-?\d\.\d\d)\)", text.split("closest:")[1])
    assert len(closest) == 3 and all(float(score) < 0.54 for _, score in closest)


def test_refined_query_rejects_misaligned_scores():
    with pytest.raises(ValueError, match="one score per phrase"):
        RefinedQuery(request="r", domain="toy", phrases=["a", "b"], scores=[0.9], method="m")


def test_genseg_refine_query_is_firstresult_and_called_with_keywords(genseg_plugins):
    assert hookspecs.genseg_refine_query.genseg_spec["firstresult"] is True
    seen: list[dict] = []

    @hookimpl
    def genseg_refine_query_named(request, domain, vocabulary, top_k, threshold):
        seen.append({"request": request, "domain": domain, "top_k": top_k, "threshold": threshold})

    recorder = _plugin("recorder", genseg_refine_query=genseg_refine_query_named)
    genseg_plugins(TOY_PLUGIN, recorder)
    plugin, result = refine("lungs", "toy", top_k=2, threshold=0.4)
    assert seen == [{"request": "lungs", "domain": "toy", "top_k": 2, "threshold": 0.4}]
    assert plugin == "generic" and result.phrases == ["lung"]  # the recorder passed (None)


def test_genseg_refine_query_plugin_overrides_builtin(genseg_plugins):
    calls = []

    @hookimpl
    def vlm_refine(request, vocabulary):
        calls.append(request)
        return {
            "request": request,
            "domain": vocabulary.domain,
            "phrases": ["heart"],
            "scores": [0.9],
            "terms": ["heart"],
            "method": "toy-vlm",
        }

    @hookimpl(tryfirst=True)
    def first_refine(request, domain):
        return (
            None
            if domain != "toy" or "pass" in request
            else {
                "request": request,
                "domain": domain,
                "phrases": ["kidney"],
                "scores": [0.8],
                "method": "tryfirst",
            }
        )

    genseg_plugins(TOY_PLUGIN, _plugin("vlm", genseg_refine_query=vlm_refine))
    plugin, result = refine("the organ that pumps blood", "toy")
    assert (plugin, result.phrases, result.method) == ("vlm", ["heart"], "toy-vlm")
    genseg_plugins(
        _plugin("first", genseg_refine_query=first_refine),
        TOY_PLUGIN,
        _plugin("vlm", genseg_refine_query=vlm_refine),
    )
    assert refine("anything", "toy")[0] == "first"  # tryfirst beats registration order
    assert refine("pass this on", "toy")[0] == "vlm"  # returning None hands on to the next plugin


def test_genseg_refine_query_bad_plugin_answer_is_a_config_error(genseg_plugins):
    from genseg.errors import ConfigError

    @hookimpl
    def broken(request):
        return {"request": request, "phrases": [], "method": "x"}

    genseg_plugins(TOY_PLUGIN, _plugin("broken", genseg_refine_query=broken))
    with pytest.raises(ConfigError, match="genseg_refine_query"):
        refine("lungs please", "toy")


def _genseg(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The real CLI entry point in this process (exit code, stdout, stderr): no second model load."""
    from genseg.cli.app import main

    monkeypatch.setattr("sys.argv", ["genseg", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    return exited.value.code or 0, out.out, out.err


def test_refine_cli_json_and_refusal(monkeypatch, capsys):
    args = (
        "refine",
        "the organ that stores bile",
        "--domain",
        "medical",
        "--top-k",
        "3",
        "--threshold",
        "0.3",
    )
    code, out, err = _genseg(monkeypatch, capsys, *args, "--json", "-")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["plugin"] == "generic" and "gallbladder" in answer["phrases"]
    code, out, err = _genseg(monkeypatch, capsys, "refine", "a cup of coffee", "--domain", "agriculture")
    assert code == 3
    assert "'a cup of coffee'" in err and "lower --threshold" in err and "closest:" in err


def test_segment_refine_prints_and_uses_the_chosen_phrase(monkeypatch, capsys, genseg_fake_image, tmp_path):
    from genseg.plugins.testing import build_tiny_pipeline

    model = tmp_path / "tiny"
    build_tiny_pipeline("dit").save_pretrained(model)
    image = genseg_fake_image(tmp_path / "a.png")
    args = ("segment", "-m", str(model), "--refine", "-p", "the round blob", "-o", str(tmp_path / "m.png"))
    code, out, err = _genseg(monkeypatch, capsys, *args, str(image))
    assert code == 0, err
    assert "refined 'the round blob' → 'circle'" in err and "(circle: " in out  # a note, then the result
    code, out, err = _genseg(
        monkeypatch, capsys, *args[:-3], "a cup of coffee", "-o", str(tmp_path / "x.png"), str(image)
    )
    assert code == 3 and "'a cup of coffee'" in err and not (tmp_path / "x.png").exists()

"""Tests of the chat's product matcher (api.matching): code, alias, name, typos, ambiguity."""

import pytest

from api.matching import Candidate, find_product, fold

CATALOG = [
    ("FEI-01", "Feijão Carioca 1kg", ("7891000100101",)),
    ("FEI-02", "Feijão Preto 1kg", ()),
    ("ARZ-1", "Arroz Branco 5kg", ("ARROZ5",)),
    ("ARZ-2", "Arroz Integral 1kg", ()),
    ("CAF", "Café Torrado 500g", ()),
    ("A", "Prod A", ()),
    ("B", "Prod B", ()),
]


def codes(text: str, catalog=CATALOG) -> tuple[str, list[str]]:
    match = find_product(text, catalog)
    return match.kind, [p.code for p in match.products]


def test_fold_drops_accents_and_case():
    assert fold("FEIJÃO Café Ação") == "feijao cafe acao"


@pytest.mark.parametrize(
    "text",
    ["FEI-01", "fei-01", "Should I buy more FEI-01?", "what about (fei-01)", "fei-01, please"],
)
def test_code_token(text):
    assert codes(text) == ("single", ["FEI-01"])


@pytest.mark.parametrize("text", ["7891000100101", "comprar arroz5?", "ARROZ5"])
def test_alias_token(text):
    expected = "FEI-01" if text.startswith("789") else "ARZ-1"
    assert codes(text) == ("single", [expected])


def test_code_wins_outright_over_names():
    # the words name Feijão Preto, but the code of Arroz Branco was typed
    assert codes("feijao preto or ARZ-1?") == ("single", ["ARZ-1"])


def test_two_codes_are_ambiguous():
    assert codes("FEI-01 or ARZ-2") == ("ambiguous", ["FEI-01", "ARZ-2"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("feijao cariocca", "FEI-01"),  # typo, no accent
        ("Devo comprar mais feijão carioca?", "FEI-01"),
        ("FEIJAO PRETTO", "FEI-02"),
        ("arroz integrl", "ARZ-2"),
        ("cafe", "CAF"),
        ("CAFÉ torrado", "CAF"),
        ("torrad", "CAF"),  # a prefix of at least 4 letters
        ("prod a", "A"),  # the whole name typed beats "Prod B"
    ],
)
def test_name_with_typos_accents_and_case(text, expected):
    assert codes(text) == ("single", [expected])


def test_ambiguous_name_lists_the_candidates():
    assert codes("arroz") == ("ambiguous", ["ARZ-1", "ARZ-2"])
    assert codes("feijao 1kg") == ("ambiguous", ["FEI-01", "FEI-02"])


def test_ambiguous_lists_at_most_five():
    catalog = [(f"P{i}", f"Parafuso {i}", ()) for i in range(1, 10)]
    kind, found = codes("parafuso", catalog)
    assert kind == "ambiguous"
    assert len(found) == 5


def test_fully_matched_name_beats_a_longer_one():
    catalog = [("R1", "Arroz", ()), ("R2", "Arroz Integral", ())]
    assert codes("arroz", catalog) == ("single", ["R1"])
    assert codes("arroz integral", catalog) == ("single", ["R2"])


@pytest.mark.parametrize("text", ["xyz", "what about a bag of rice", "?", "", "should I buy"])
def test_unknown(text):
    assert codes(text) == ("none", [])


def test_a_code_that_is_a_common_word_needs_its_exact_case():
    assert codes("should I buy A?") == ("single", ["A"])
    assert codes("a") == ("single", ["A"])  # the whole message
    assert codes("should i buy a lot") == ("none", [])


def test_candidates_accept_objects_and_tuples():
    match = find_product("carioca", [Candidate("X", "Feijão Carioca"), ("Y", "Arroz", [])])
    assert match.kind == "single"
    assert match.products == [Candidate("X", "Feijão Carioca", ())]


def test_empty_catalog():
    assert codes("feijao", []) == ("none", [])


def test_many_products_stay_fast():
    import time

    catalog = [(f"SKU{i:05d}", f"Produto {i} Modelo {i * 7 % 1000}", ()) for i in range(10_000)]
    catalog.append(("FEI-01", "Feijão Carioca 1kg", ()))
    start = time.perf_counter()
    assert codes("feijao cariocca", catalog) == ("single", ["FEI-01"])
    assert time.perf_counter() - start < 5

"""PriceTable / ModelPrice: the shipped data, exact Decimal arithmetic, tiers, aliases,
overrides, unknown models, and the ``streamkit prices`` rendering."""

from __future__ import annotations

import json
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from streamkit._prices_cli import parse_token_count, prices_command, prices_rich_table, prices_rows
from streamkit.pricing import (
    ModelPrice,
    PriceTable,
    PriceTier,
    UnknownModelWarning,
    format_money,
    to_decimal,
)
from streamkit.usage import Usage

D = Decimal

# (input, cached input, cache write, output) USD per 1M tokens, from the providers' pages
REFERENCE: dict[str, tuple[str, str, str | None, str]] = {
    "gpt-4.1": ("2", "0.50", None, "8"),
    "gpt-4.1-mini": ("0.40", "0.10", None, "1.60"),
    "gpt-4o": ("2.50", "1.25", None, "10"),
    "gpt-4o-mini": ("0.15", "0.075", None, "0.60"),
    "claude-sonnet-4.5": ("3", "0.30", "3.75", "15"),
    "claude-haiku-4.5": ("1", "0.10", "1.25", "5"),
    "gemini-2.5-flash": ("0.30", "0.03", None, "2.50"),
    "gemini-2.5-pro": ("1.25", "0.125", None, "10"),
    "deepseek-v3.2": ("0.28", "0.028", None, "0.42"),
    "deepseek-reasoner": ("0.28", "0.028", None, "0.42"),
}

SOURCES = {
    "openai": "https://openai.com/api/pricing/",
    "anthropic": "https://docs.anthropic.com/en/docs/about-claude/pricing",
    "google": "https://ai.google.dev/gemini-api/docs/pricing",
    "deepseek": "https://api-docs.deepseek.com/quick_start/pricing",
}


@pytest.fixture
def table() -> PriceTable:
    return PriceTable.default()


# ---------------------------------------------------------------------------- shipped data


@pytest.mark.parametrize("model", sorted(REFERENCE))
def test_reference_prices(table: PriceTable, model: str) -> None:
    price = table.get(model)
    assert price is not None
    inp, cached, write, out = REFERENCE[model]
    assert price.input == D(inp)
    assert price.cached_input == D(cached)
    assert price.cache_write == (None if write is None else D(write))
    assert price.output == D(out)
    for value in (price.input, price.cached_input, price.output):
        assert isinstance(value, Decimal)


def test_every_shipped_entry_has_source_and_checked_date(table: PriceTable) -> None:
    # the shipped overrides: the DeepSeek prices streamkit verified (genai-prices differs)
    assert table.models == ("deepseek-v3.2", "deepseek-reasoner")
    for price in table:
        assert price.provider in SOURCES
        assert price.source == SOURCES[price.provider]
        assert price.checked == date(2026, 11, 21)
    # every other model comes from genai-prices, and says so
    gpt = table.get("gpt-4.1")
    assert gpt is not None
    assert gpt.source.startswith("genai-prices ")
    assert gpt.provider == "openai"


def test_shipped_tiers(table: PriceTable) -> None:
    sonnet = table.get("claude-sonnet-4.5")
    assert sonnet is not None
    assert sonnet.tiers == (
        PriceTier(
            above_input_tokens=200_000,
            input=D("6"),
            cached_input=D("0.60"),
            cache_write=D("7.50"),
            cache_write_1h=D("12"),  # 2x input, as in the base tier ($6 against $3.75)
            output=D("22.50"),
        ),
    )
    assert sonnet.cache_write_1h == D("6")
    pro = table.get("gemini-2.5-pro")
    assert pro is not None
    assert pro.tiers == (
        PriceTier(
            above_input_tokens=200_000,
            input=D("2.50"),
            cached_input=D("0.25"),
            output=D("15"),
        ),
    )


def test_prices_json_is_the_documented_format() -> None:
    import streamkit

    path = Path(streamkit.__file__).with_name("prices.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "streamkit-prices/1"
    assert data["currency"] == "USD"
    # money is written as strings so that no float ever touches it
    for entry in data["models"]:
        for key in ("input", "cached_input", "cache_write", "output"):
            assert entry[key] is None or isinstance(entry[key], str)


# ---------------------------------------------------------------------------- arithmetic


def test_issue_check_gpt41_14_in_30_out(table: PriceTable) -> None:
    cost = table.cost("gpt-4.1", Usage(input_tokens=14, output_tokens=30, total_tokens=44))
    assert isinstance(cost, Decimal)
    assert cost == D("0.000268")


def test_cached_input_is_part_of_input(table: PriceTable) -> None:
    # (600 * 2 + 400 * 0.50 + 100 * 8) / 1e6
    usage = Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=100)
    assert table.cost("gpt-4.1", usage) == D("0.0022")


def test_anthropic_cache_read_and_write(table: PriceTable) -> None:
    # (2000 * 3 + 6000 * 0.30 + 2000 * 3.75 + 500 * 15) / 1e6 = 22800 / 1e6
    usage = Usage(
        input_tokens=10_000, cache_read_tokens=6000, cache_write_tokens=2000, output_tokens=500
    )
    assert table.cost("claude-sonnet-4.5", usage) == D("0.0228")


def test_cache_write_without_price_is_charged_as_input(table: PriceTable) -> None:
    usage = Usage(input_tokens=1000, cache_write_tokens=1000, output_tokens=0)
    assert table.cost("deepseek-v3.2", usage) == D("0.00028")


def test_unknown_buckets_count_as_zero(table: PriceTable) -> None:
    assert table.cost("gpt-4.1", Usage()) == 0
    assert table.cost("gpt-4.1", Usage(output_tokens=1_000_000)) == D("8")


def test_more_cached_than_input_never_negative(table: PriceTable) -> None:
    usage = Usage(input_tokens=10, cache_read_tokens=20)
    assert table.cost("gpt-4.1", usage) == D("0.00001")  # 20 * 0.50 / 1e6


def test_huge_volumes_stay_exact(table: PriceTable) -> None:
    usage = Usage(input_tokens=10**15 + 7, cache_read_tokens=3, output_tokens=10**15 + 1)
    # (1e15 + 4) * 0.28 + 3 * 0.028 + (1e15 + 1) * 0.42 = 7e14 + 1.624, / 1e6
    assert table.cost("deepseek-chat", usage) == D("700000000.000001624")
    # override entries: beyond the default 28-digit context, still exact (genai-prices
    # computes in the default context: exact up to ~10^20 tokens)
    usage = Usage(input_tokens=10**30 + 1, output_tokens=0)
    assert table.cost("deepseek-v3.2", usage) == D("280000000000000000000000.00000028")


@pytest.mark.parametrize(
    ("model", "usage", "expected"),
    [
        # exactly 200k is not "above 200k": base tier
        ("claude-sonnet-4.5", Usage(input_tokens=200_000), D("0.6")),
        ("claude-sonnet-4.5", Usage(input_tokens=200_001, output_tokens=1000), D("1.222506")),
        (
            "claude-sonnet-4.5",
            Usage(
                input_tokens=300_000,
                cache_read_tokens=100_000,
                cache_write_tokens=100_000,
                output_tokens=0,
            ),
            D("1.41"),  # 100k * 6 + 100k * 0.60 + 100k * 7.50
        ),
        ("gemini-2.5-pro", Usage(input_tokens=250_000, output_tokens=10_000), D("0.775")),
        ("gemini-2.5-pro", Usage(input_tokens=300_000, cache_read_tokens=100_000), D("0.525")),
        ("gemini-2.5-pro", Usage(input_tokens=100_000, output_tokens=10_000), D("0.225")),
    ],
)
def test_tiers_chosen_by_input_tokens(
    table: PriceTable, model: str, usage: Usage, expected: Decimal
) -> None:
    assert table.cost(model, usage) == expected


def test_tier_for_unknown_input_is_base(table: PriceTable) -> None:
    pro = table.get("gemini-2.5-pro")
    assert pro is not None
    assert pro.tier_for(None) == pro.base_tier
    assert pro.tier_for(200_001).input == D("2.50")


# ---------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("GPT-4.1", "gpt-4.1"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("deepseek-chat", "deepseek-v3.2"),
        ("deepseek-v3.2", "deepseek-v3.2"),
        ("deepseek-reasoner", "deepseek-reasoner"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("deepseek/deepseek-chat", "deepseek-v3.2"),
        ("x-ai/grok-4", "grok-4-0709"),
        ("grok-4", "grok-4-0709"),
    ],
)
def test_aliases_and_snapshots(table: PriceTable, name: str, canonical: str) -> None:
    assert table.resolve(name) == canonical
    assert name in table


def test_alias_costs_the_same(table: PriceTable) -> None:
    usage = Usage(input_tokens=1234, cache_read_tokens=34, output_tokens=5678)
    assert table.cost("deepseek-chat", usage) == table.cost("deepseek-v3.2", usage)
    assert table.cost("gpt-4o-2024-08-06", usage) == table.cost("gpt-4o", usage)


def test_unknown_model_is_none_with_one_warning_per_table() -> None:
    table = PriceTable.default()
    with pytest.warns(UnknownModelWarning, match="no-such-model"):
        assert table.cost("no-such-model", Usage(input_tokens=1, output_tokens=1)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert table.cost("no-such-model", Usage(output_tokens=5)) is None
        assert table.get("other-unknown") is None  # get() never warns
    with pytest.warns(UnknownModelWarning, match="other-unknown"):
        table.cost("other-unknown", Usage())
    with pytest.warns(UnknownModelWarning):
        PriceTable.default().cost("no-such-model", Usage())  # a new table warns again
    assert "no-such-model" not in table
    assert 42 not in table


# ---------------------------------------------------------------------------- overrides


def test_with_prices_partial_override(table: PriceTable) -> None:
    cheaper = table.with_prices({"gpt-4.1": {"output": "7.50"}})
    price = cheaper.get("gpt-4.1-2025-04-14")
    assert price is not None
    assert price.output == D("7.50")
    assert price.input == D("2")
    assert price.source == "user"
    assert price.checked is None
    assert table.get("gpt-4.1") is not None
    assert table.get("gpt-4.1").output == D("8")  # type: ignore[union-attr]


def test_with_prices_through_alias_updates_the_family(table: PriceTable) -> None:
    t = table.with_prices(
        {
            "deepseek-chat": {
                "input": "0.27",
                "source": "https://example.com",
                "checked": "2026-12-01",
            }
        }
    )
    price = t.get("deepseek-v3.2")
    assert price is not None
    assert price.input == D("0.27")
    assert price.source == "https://example.com"
    assert price.checked == date(2026, 12, 1)
    assert len(t) == len(table)


def test_with_prices_adds_models_and_converts_floats_exactly(table: PriceTable) -> None:
    t = table.with_prices({"my-model": {"input": 0.1, "output": 0.3, "aliases": ["mine"]}})
    price = t.get("mine")
    assert price is not None
    assert price.input == D("0.1")
    assert price.output == D("0.3")
    assert t.cost("my-model", Usage(input_tokens=10, output_tokens=10)) == D("0.000004")
    assert len(t) == len(table) + 1


def test_with_prices_model_price_replaces(table: PriceTable) -> None:
    new = ModelPrice(model="gpt-4o", input=D("5"), output=D("15"))
    t = table.with_prices([new])
    price = t.get("gpt-4o-2024-08-06")  # the old aliases are kept
    assert price is not None
    assert (price.input, price.cached_input, price.output) == (D("5"), None, D("15"))
    combined = PriceTable([new]).with_prices(table)  # adds the overrides only
    assert combined.get("gpt-4o") == new
    assert combined.get("deepseek-chat") == table.get("deepseek-chat")


def test_with_prices_rejects_incomplete_new_model(table: PriceTable) -> None:
    with pytest.raises(ValidationError):
        table.with_prices({"new-model": {"input": "1"}})
    with pytest.raises(ValueError, match="names another model"):
        table.with_prices({"x": {"input": "1", "output": "1", "aliases": ["deepseek-chat"]}})


def test_table_validation() -> None:
    a = ModelPrice(model="a", input=D(1), output=D(1))
    with pytest.raises(ValueError, match="duplicate"):
        PriceTable([a, a])
    with pytest.raises(ValidationError):
        ModelPrice(model="b", input=D(-1), output=D(1))
    with pytest.raises(ValidationError, match="ascending"):
        ModelPrice(
            model="c",
            input=D(1),
            output=D(1),
            tiers=(
                PriceTier(above_input_tokens=10, input=D(2), output=D(2)),
                PriceTier(above_input_tokens=5, input=D(3), output=D(3)),
            ),
        )


def test_json_round_trip(tmp_path: Path, table: PriceTable) -> None:
    path = tmp_path / "prices.json"
    path.write_text(table.to_json(), encoding="utf-8")
    loaded = PriceTable.load(path)
    assert list(loaded) == list(table)


def test_load_user_file_with_json_numbers(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        '{"models": {"relay-model": {"input": 0.075, "output": 1.1, "cached_input": null}}}',
        encoding="utf-8",
    )
    t = PriceTable.default().with_prices(PriceTable.load(path))
    price = t.get("relay-model")
    assert price is not None
    assert price.input == D("0.075")  # parsed as decimal text, never as a float
    assert t.get("gpt-4.1") is not None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[]", "JSON object"),
        ('{"format": "other/2", "models": []}', "format"),
        ('{"currency": "EUR", "models": []}', "USD"),
        ('{"models": 3}', "models"),
        ("{not json", "Expecting property name"),
    ],
)
def test_bad_files(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PriceTable.from_json(text)


# ---------------------------------------------------------------------------- money helpers


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (D("80"), "USD", "$80.00"),
        (D("4.2"), "USD", "$4.20"),
        (D("0.00026800"), "USD", "$0.000268"),
        (D("1234567.5"), "USD", "$1,234,567.50"),
        (D("0"), "USD", "$0.00"),
        (D("-1.5"), "USD", "-$1.50"),
        (D("12.5"), "CNY", "12.50 CNY"),
        # a tiny non-zero cost never prints as zero: two significant digits
        (D("0.000000000001"), "USD", "$0.0000000000010"),
        (D("0.0000000000123456"), "USD", "$0.000000000012"),
        (D("-0.000000000001"), "USD", "-$0.0000000000010"),
        (D("0.00000000015"), "USD", "$0.0000000002"),
    ],
)
def test_format_money(amount: Decimal, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


def test_to_decimal() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal("2.50") == D("2.50")
    assert to_decimal(3) == D(3)
    with pytest.raises(TypeError):
        to_decimal(True)
    with pytest.raises(ValueError, match="finite"):
        to_decimal("nan")
    with pytest.raises(ValueError, match="not a number"):
        to_decimal("abc")


# ---------------------------------------------------------------------------- `streamkit prices`


def test_prices_output_10m_costs() -> None:
    costs = {row.model.split(" ")[0]: row.cost for row in prices_rows(None, 10_000_000)}
    assert costs["gpt-4.1"] == "$80.00"
    assert costs["claude-sonnet-4-5"] == "$150.00"
    assert costs["gemini-2.5-flash"] == "$25.00"
    assert costs["deepseek-v3.2"] == "$4.20"


def test_prices_command_text() -> None:
    text = prices_command(None, "10M")
    lines = {line.split()[0]: line for line in text.splitlines() if line and line[0] != " "}
    assert "$80.00" in lines["gpt-4.1"]
    assert "$150.00" in lines["claude-sonnet-4-5"]
    assert "$25.00" in lines["gemini-2.5-flash"]
    assert "$4.20" in lines["deepseek-v3.2"]
    assert "deepseek-chat" in lines["deepseek-v3.2"]
    assert "genai-prices" in lines["gpt-4.1"]  # each entry's source
    assert "https://api-docs.deepseek.com/quick_start/pricing" in lines["deepseek-v3.2"]
    assert "2026-11-21" in lines["deepseek-v3.2"]
    assert "10,000,000 output" in text
    assert "> 200,000 input" in text  # the tier rows


def test_prices_command_without_volume_has_no_cost_column() -> None:
    text = prices_command(None, None)
    assert "cost" not in text.splitlines()[1]
    assert "$8.00" in text


def test_prices_command_input_and_output_for_one_model() -> None:
    text = prices_command("500k", "1.5M", model="deepseek-chat")
    rows = [line for line in text.splitlines() if line.startswith("deepseek")]
    assert len(rows) == 1
    assert "$0.77" in rows[0]  # 0.5 * 0.28 + 1.5 * 0.42


def test_prices_command_errors() -> None:
    with pytest.raises(LookupError, match="nope"):
        prices_command(None, "1M", model="nope")
    with pytest.raises(ValueError, match="token count"):
        prices_command("ten", None)


def test_prices_rich_table() -> None:
    from rich.console import Console

    console = Console(record=True, width=250)
    console.print(prices_rich_table(None, "10M"))
    text = console.export_text()
    assert "$80.00" in text
    assert "$4.20" in text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10M", 10_000_000),
        ("10m", 10_000_000),
        ("500k", 500_000),
        ("500K", 500_000),
        ("1.5M", 1_500_000),
        ("1000", 1000),
        ("1,000", 1000),
        ("1_000_000", 1_000_000),
        (" 2B ", 2_000_000_000),
        ("0", 0),
        (".5k", 500),
    ],
)
def test_parse_token_count(text: str, value: int) -> None:
    assert parse_token_count(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-5", "1.5", "1.2345k", "10 MB", "1e6", "k"])
def test_parse_token_count_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_token_count(text)


def test_one_renderer_draws_the_cost_report_and_the_price_table() -> None:
    from streamkit._render import Grid, grid_markdown, grid_text

    grid = Grid(["model", "cost"], [["a", "$1.00"], ["bb", "$10.00"]], ["total", "$11.00"])
    assert grid_text(grid).splitlines() == [
        "model    cost",
        "-------------",
        "a       $1.00",
        "bb     $10.00",
        "-------------",
        "total  $11.00",
    ]
    assert grid_markdown(grid).splitlines()[1] == "|---|---:|"


# ---------------------------------------------------------------------------- two layers


def test_default_table_falls_back_to_genai_prices_and_explicit_tables_do_not() -> None:
    assert PriceTable.default().genai_prices
    mine = PriceTable([ModelPrice(model="a", input=D(1), output=D(1))])
    assert not mine.genai_prices
    assert mine.get("gpt-4.1") is None
    assert PriceTable(genai_prices=True).get("gpt-4.1") is not None


def test_match_resolves_prefixes_snapshots_and_says_where_the_price_comes_from(
    table: PriceTable,
) -> None:
    match = table.match("openai/gpt-4o-2024-08-06")
    assert match is not None
    assert (match.model, match.provider, match.data) == ("gpt-4o", "openai", "genai-prices")
    basis = match.basis(from_response=True)
    assert basis.looked_up == "openai/gpt-4o-2024-08-06"
    assert basis.source.startswith("https://")
    assert basis.data_version is not None and basis.data_version.startswith("genai-prices ")
    override = table.match("deepseek/deepseek-chat")
    assert override is not None
    assert override.data == "override"
    assert override.basis(from_response=False).data_version == "2026-11-21"
    assert table.match("no-such-model") is None


def test_dialect_and_api_url_pick_the_seller(table: PriceTable) -> None:
    vertex = table.match("claude-sonnet-4-5", dialect="gemini")
    assert vertex is not None and vertex.provider == "google"
    anthropic = table.match("claude-sonnet-4-5", dialect="anthropic-messages")
    assert anthropic is not None and anthropic.provider == "anthropic"
    azure = table.match("gpt-4o", api_url="https://my-res.openai.azure.com/openai")
    assert azure is not None and azure.provider == "azure"


def test_azure_deployments_map_to_models(table: PriceTable, tmp_path: Path) -> None:
    t = table.with_deployments({"My-GPT4o-EU": "gpt-4o"})
    assert t.deployments == {"my-gpt4o-eu": "gpt-4o"}
    assert t.resolve("my-gpt4o-eu") == "gpt-4o"
    assert table.resolve("my-gpt4o-eu") is None
    usage = Usage(input_tokens=1000, output_tokens=1000)
    assert t.cost("my-gpt4o-eu", usage) == t.cost("gpt-4o", usage)
    mine = PriceTable([ModelPrice(model="x", input=D(1), output=D(2))]).with_deployments(
        {"prod": "x"}
    )
    path = tmp_path / "mine.json"
    path.write_text(mine.to_json(), encoding="utf-8")
    assert PriceTable.load(path).resolve("prod") == "x"
    with pytest.raises(ValueError, match="deployment"):
        PriceTable(deployments={"a": " "})


def test_listing_filters_by_provider_and_model(table: PriceTable) -> None:
    everything = table.listing()
    assert len(everything) > 1000
    assert [p.model for p in everything[:2]] == ["deepseek-v3.2", "deepseek-reasoner"]
    # the overrides replace genai-prices' own DeepSeek entries of the same names
    deepseek = [p.model for p in table.listing(provider="deepseek")]
    assert deepseek.count("deepseek-v3.2") == 1 and "deepseek-chat" not in deepseek
    assert {p.provider for p in table.listing(provider="x-ai")} == {"x-ai"}
    assert [p.model for p in table.listing(model="grok-4")] == ["grok-4-0709"]
    assert table.listing(model="grok-4", provider="openai") == []


def test_prices_command_filters() -> None:
    text = prices_command(None, "10M", provider="anthropic")
    rows = [line for line in text.splitlines()[3:] if line and line[0] != " " and "'" not in line]
    assert rows and all(" anthropic " in row for row in rows)
    assert "$150.00" in next(r for r in rows if r.startswith("claude-sonnet-4-5 "))
    with pytest.raises(LookupError, match="provider 'nope'"):
        prices_command(None, None, provider="nope")
    with pytest.raises(LookupError, match="at provider"):
        prices_command(None, None, model="gpt-4.1", provider="anthropic")
    one = prices_command(None, "1M", model="claude-sonnet-4-5")
    assert "$6.00" in one  # the 1-hour cache write column


def test_usage_genai_prices_cannot_price_falls_back_to_token_prices(
    table: PriceTable, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from streamkit import _genai_prices

    def refuse(*args: object, **kwargs: object) -> Decimal:
        raise ValueError("inconsistent usage")

    match = table.match("gpt-4.1")
    assert match is not None
    monkeypatch.setattr(_genai_prices, "total_price", refuse)
    assert match.cost(Usage(input_tokens=14, output_tokens=30)) == D("0.000268")
    assert "could not price" in caplog.text

from pathlib import Path

from healthgate.runbooks import section, slug

ROOT = Path(__file__).resolve().parents[2]


def test_a_section_runs_to_the_next_heading_of_its_level(tmp_path):
    (tmp_path / "kind.md").write_text(
        "# Kind\n\n## replication-lag\nlook here\n```bash\npsql -c 'select 1'\n```\n### detail\nmore\n"
        "## next-check\nnot this\n")
    assert section(tmp_path, "kind.md", "replication-lag") == (
        "## replication-lag\nlook here\n```bash\npsql -c 'select 1'\n```\n### detail\nmore")


def test_a_missing_page_or_anchor_gives_nothing(tmp_path):
    assert section(tmp_path, "absent.md", "x") is None
    (tmp_path / "k.md").write_text("## a\n")
    assert section(tmp_path, "k.md", "b") is None


def test_slugs_follow_github_anchors():
    assert [slug(h) for h in ("Replication lag", "query-time", "P95 (approx.)")] == [
        "replication-lag", "query-time", "p95-approx"]


def test_shipped_runbook_sections_carry_the_seed_commands():
    text = section(ROOT / "docs" / "runbooks", "postgres.md", "idle-in-transaction")
    assert text is not None and "idle in transaction" in text and "```" in text

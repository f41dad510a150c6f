"""Lead search: a full-text index per database, a tag index, sort indexes.

Text search over name, email, company name and title:

- SQLite: ``lead_search``, a contentless FTS5 table (rowid = the lead's
  rowid) kept current by triggers, so every writer, the bulk path and a
  restore included, indexes what it writes. Contentless, not external
  content: the tags column holds the tags as words (``json_each``), which
  is not what ``sales_leads.tags`` stores, and nothing ever reads the text
  back. It also holds the tags, so the tag filter narrows by the index too.
  sales_leads has no INTEGER PRIMARY KEY, so its rowid is implicit: SQLite
  keeps it through VACUUM (which copies tables whole) and the backup API;
  a restore re-inserts the leads and the triggers index them afresh.
- PostgreSQL: a GIN index on ``lead_search_vector``, a stored generated
  column holding ``lead_search_document(...)``: the 'simple' tsvector of the
  four columns with accents folded; and a GIN (jsonb_path_ops) index on
  ``tags`` for ``@>``.
- MariaDB: an InnoDB FULLTEXT index over the four columns, built without a
  stopword list so that "the" or "will" are findable words like any other.

Keyset sorts get (column, id) indexes on every database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:00:00
"""

import unicodedata
from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_INDEXES = {
    "idx_lead_created_at": ["created_at", "id"],
    "idx_lead_updated_at": ["updated_at", "id"],
    "idx_lead_score": ["lead_score", "id"],
    "idx_lead_full_name": ["full_name", "id"],
}
SEARCHED = ("full_name", "email", "company_name", "title")


def upgrade() -> None:
    for name, columns in SORT_INDEXES.items():
        op.create_index(name, "sales_leads", columns)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgresql_upgrade()
    else:
        _mariadb_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("lead_search_insert", "lead_search_update", "lead_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS lead_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS lead_search_tags")
        op.execute("DROP INDEX IF EXISTS lead_search_text")
        op.execute("ALTER TABLE sales_leads DROP COLUMN IF EXISTS lead_search_vector")
        op.execute("DROP FUNCTION IF EXISTS lead_search_document(text, text, text, text)")
        op.execute("DROP FUNCTION IF EXISTS lead_search_fold(text)")
    else:
        op.execute("DROP INDEX lead_search_text ON sales_leads")
    for name in SORT_INDEXES:
        op.drop_index(name, table_name="sales_leads")


# --- SQLite ------------------------------------------------------------------------


def _sqlite_values(row: str) -> str:
    """The indexed values of ``row`` (new/old): the same expression on insert
    and on delete, as a contentless table needs to remove exactly its tokens."""
    tags = f"(SELECT group_concat(value, ' ') FROM json_each({row}.tags))"
    return ", ".join([f"{row}.rowid", *(f"{row}.{c}" for c in SEARCHED), tags])


def _sqlite_upgrade() -> None:
    columns = ", ".join(SEARCHED)
    # remove_diacritics 2: "lefevre" finds "Lefèvre"; unicode61 folds case.
    op.execute(
        f"CREATE VIRTUAL TABLE lead_search USING fts5({columns}, tags, "
        "content='', tokenize='unicode61 remove_diacritics 2')"
    )
    insert = f"INSERT INTO lead_search (rowid, {columns}, tags) VALUES ({_sqlite_values('new')})"
    delete = (
        f"INSERT INTO lead_search (lead_search, rowid, {columns}, tags) "
        f"VALUES ('delete', {_sqlite_values('old')})"
    )
    op.execute(f"CREATE TRIGGER lead_search_insert AFTER INSERT ON sales_leads BEGIN {insert}; END")
    op.execute(
        f"CREATE TRIGGER lead_search_update AFTER UPDATE OF {columns}, tags ON sales_leads "
        f"BEGIN {delete}; {insert}; END"
    )
    op.execute(f"CREATE TRIGGER lead_search_delete AFTER DELETE ON sales_leads BEGIN {delete}; END")
    # Leads stored before this revision.
    op.execute(
        f"INSERT INTO lead_search (rowid, {columns}, tags) "
        f"SELECT {_sqlite_values('sales_leads')} FROM sales_leads"
    )


# --- PostgreSQL --------------------------------------------------------------------


def _accent_folding() -> tuple[str, str]:
    """Latin letters with diacritics and their plain letters, for translate().

    Built from Unicode canonical decompositions, which the Unicode stability
    policy freezes: this revision creates the same function every time.
    """
    accented, plain = [], []
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        letter = chr(code)
        parts = unicodedata.normalize("NFD", letter)
        base, marks = parts[0], parts[1:]
        if marks and base.isascii() and base.isalpha() and all(map(unicodedata.combining, marks)):
            accented.append(letter)
            plain.append(base)
    # Separators the 'simple' parser would otherwise keep inside one token
    # (emails, host names, paths): "ada@example.com" is three words, as on
    # the other databases.
    separators = "@./_-+"
    return "".join(accented) + separators, "".join(plain) + " " * len(separators)


def _postgresql_upgrade() -> None:
    accented, plain = _accent_folding()
    # Two functions, the translate() written out in each: the generated
    # column's function must not call another of ours by name, since
    # pg_restore computes it with an empty search_path.
    op.execute(
        "CREATE FUNCTION lead_search_fold(words text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        f"AS $$ SELECT translate(words, '{accented}', '{plain}') $$"
    )
    document = " || ' ' || ".join(f"coalesce({c}, '')" for c in SEARCHED)
    op.execute(
        "CREATE FUNCTION lead_search_document("
        "full_name text, email text, company_name text, title text) RETURNS tsvector "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        f"AS $$ SELECT to_tsvector('simple'::regconfig, translate({document}, "
        f"'{accented}', '{plain}')) $$"
    )
    # A stored column, not an expression index: a plan that walks a sort
    # index and tests each row reads the vector instead of computing it.
    op.execute(
        "ALTER TABLE sales_leads ADD COLUMN lead_search_vector tsvector GENERATED ALWAYS AS "
        f"(lead_search_document({', '.join(SEARCHED)})) STORED"
    )
    op.execute("CREATE INDEX lead_search_text ON sales_leads USING gin (lead_search_vector)")
    op.execute("CREATE INDEX lead_search_tags ON sales_leads USING gin (tags jsonb_path_ops)")


# --- MariaDB -----------------------------------------------------------------------


def _mariadb_upgrade() -> None:
    # The index keeps the stopword setting it was built with.
    op.execute("SET @leadbase_stopword = @@SESSION.innodb_ft_enable_stopword")
    op.execute("SET SESSION innodb_ft_enable_stopword = OFF")
    op.execute(f"CREATE FULLTEXT INDEX lead_search_text ON sales_leads ({', '.join(SEARCHED)})")
    op.execute("SET SESSION innodb_ft_enable_stopword = @leadbase_stopword")

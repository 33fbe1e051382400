"""What PostgreSQL keeps in a table's pages, read with pageinspect on the session's throwaway cluster: how erasure
and VACUUM are checked to leave no old row version of an erased request behind (tests/test_pg_roles.py,
tests/test_pg_vacuum.py)."""


def database_name(url):
    return url.rsplit("/", 1)[1]


def row_versions_holding(postgres, url, needle):
    """How many row versions in the requests table's pages (live or dead, as pageinspect reads them) hold `needle`."""
    return int(postgres.psql(
        "SELECT count(*) FROM generate_series(0, pg_relation_size('requests') / current_setting('block_size')::int - 1)"
        " AS block, heap_page_items(get_raw_page('requests', block::int)) AS item"
        f" WHERE position(convert_to('{needle}', 'UTF8') IN item.t_data) > 0", database=database_name(url)))

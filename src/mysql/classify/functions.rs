//! Which function calls and system variables pin a statement to a backend.

/// What calling a function (or reading a system variable) means for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FuncClass {
    /// A built-in without side effects, or a keyword that may precede `(`.
    Pure,
    /// Changes server state: locks, sequences.
    SideEffect,
    /// Answers from this connection's own state (last insert id, owned locks).
    Session,
    /// Answers about the previous statement on this connection.
    Diagnostics,
    /// Not a known built-in: a stored function, which may write.
    Stored,
}

/// Classifies an upper-cased function name followed by `(`.
pub(super) fn function_class(name: &[u8]) -> FuncClass {
    match name {
        b"GET_LOCK" | b"RELEASE_LOCK" | b"RELEASE_ALL_LOCKS" | b"NEXTVAL" | b"SETVAL" => {
            FuncClass::SideEffect
        }
        b"LAST_INSERT_ID" | b"LASTVAL" | b"IS_USED_LOCK" | b"IS_FREE_LOCK" | b"CONNECTION_ID" => {
            FuncClass::Session
        }
        b"FOUND_ROWS" | b"ROW_COUNT" => FuncClass::Diagnostics,
        _ if name.starts_with(b"ST_")
            || name.starts_with(b"MBR")
            || name.starts_with(b"JSON_")
            || name.starts_with(b"REGEXP_")
            || name.starts_with(b"VEC_")
            || name.starts_with(b"PS_") =>
        {
            FuncClass::Pure
        }
        _ if PURE.binary_search(&name).is_ok() => FuncClass::Pure,
        _ => FuncClass::Stored,
    }
}

/// Classifies a system variable read as `@@name`, `@@session.name` or `@@global.name`.
pub(super) fn sysvar_class(var: &[u8]) -> FuncClass {
    let name = match var.iter().position(|&b| b == b'.') {
        Some(dot) => &var[dot + 1..],
        None => var,
    };
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    if eq(b"warning_count") || eq(b"error_count") {
        FuncClass::Diagnostics
    } else if eq(b"identity") || eq(b"last_insert_id") || eq(b"insert_id") || eq(b"last_gtid") {
        FuncClass::Session
    } else {
        FuncClass::Pure
    }
}

/// Built-in functions of MySQL 8 and MariaDB 11 without side effects, and keywords that can
/// be followed by `(`; sorted for binary search.
#[rustfmt::skip]
static PURE: &[&[u8]] = &[
    b"ABS", b"ACOS", b"ADDDATE", b"ADDTIME", b"ADD_MONTHS", b"AES_DECRYPT", b"AES_ENCRYPT",
    b"AGAINST", b"ALL", b"AND", b"ANY", b"ANY_VALUE", b"AREA", b"AS", b"ASBINARY", b"ASC",
    b"ASCII", b"ASIN", b"ASTEXT", b"ASWKB", b"ASWKT", b"ATAN", b"ATAN2", b"AVG", b"BENCHMARK",
    b"BETWEEN", b"BIGINT", b"BIN", b"BINARY", b"BIN_TO_UUID", b"BIT", b"BIT_AND", b"BIT_COUNT",
    b"BIT_LENGTH", b"BIT_OR", b"BIT_XOR", b"BLOB", b"BOOL", b"BOOLEAN", b"BOTH", b"BOUNDARY",
    b"BUFFER", b"BY", b"CASE", b"CAST", b"CEIL", b"CEILING", b"CENTROID", b"CHAR",
    b"CHARACTER", b"CHARACTER_LENGTH", b"CHARSET", b"CHAR_LENGTH", b"CHECK", b"CHR",
    b"COALESCE", b"COERCIBILITY", b"COLLATE", b"COLLATION", b"COLUMNS", b"COLUMN_ADD",
    b"COLUMN_CHECK", b"COLUMN_CREATE", b"COLUMN_DELETE", b"COLUMN_EXISTS", b"COLUMN_GET",
    b"COLUMN_JSON", b"COLUMN_LIST", b"COMPRESS", b"CONCAT", b"CONCAT_WS", b"CONSTRAINT",
    b"CONTAINS", b"CONV", b"CONVERT", b"CONVERT_TZ", b"CONVEXHULL", b"COS", b"COT", b"COUNT",
    b"CRC32", b"CRC32C", b"CROSS", b"CROSSES", b"CUME_DIST", b"CURDATE", b"CURRENT_DATE",
    b"CURRENT_ROLE", b"CURRENT_TIME", b"CURRENT_TIMESTAMP", b"CURRENT_USER", b"CURTIME",
    b"DATABASE", b"DATE", b"DATEDIFF", b"DATETIME", b"DATE_ADD", b"DATE_FORMAT", b"DATE_SUB",
    b"DAY", b"DAYNAME", b"DAYOFMONTH", b"DAYOFWEEK", b"DAYOFYEAR", b"DEC", b"DECIMAL",
    b"DECODE", b"DECODE_HISTOGRAM", b"DEFAULT", b"DEGREES", b"DENSE_RANK", b"DESC",
    b"DES_DECRYPT", b"DES_ENCRYPT", b"DIMENSION", b"DISJOINT", b"DISTINCT", b"DIV", b"DOUBLE",
    b"DUAL", b"ELSE", b"ELT", b"ENCODE", b"ENCRYPT", b"ENDPOINT", b"ENUM", b"ENVELOPE",
    b"EQUALS", b"ESCAPE", b"EXCEPT", b"EXISTS", b"EXP", b"EXPORT_SET", b"EXTERIORRING",
    b"EXTRACT", b"EXTRACTVALUE", b"FALSE", b"FETCH", b"FIELD", b"FIND_IN_SET", b"FIRST",
    b"FIRST_VALUE", b"FLOAT", b"FLOOR", b"FOR", b"FORCE", b"FORMAT", b"FORMAT_BYTES",
    b"FORMAT_PICO_TIME", b"FROM", b"FROM_BASE64", b"FROM_DAYS", b"FROM_UNIXTIME", b"FULL",
    b"GEOMCOLLFROMTEXT", b"GEOMETRYCOLLECTION", b"GEOMETRYN", b"GEOMETRYTYPE", b"GEOMFROMTEXT",
    b"GEOMFROMWKB", b"GET_FORMAT", b"GLENGTH", b"GREATEST", b"GROUP", b"GROUPING",
    b"GROUP_CONCAT", b"GTID_SUBSET", b"GTID_SUBTRACT", b"HAVING", b"HEX", b"HOUR",
    b"ICU_VERSION", b"IF", b"IFNULL", b"IGNORE", b"IN", b"INDEX", b"INET6_ATON", b"INET6_NTOA",
    b"INET_ATON", b"INET_NTOA", b"INNER", b"INSERT", b"INSTR", b"INT", b"INTEGER",
    b"INTERIORRINGN", b"INTERSECT", b"INTERSECTS", b"INTERVAL", b"INTO", b"IS", b"ISCLOSED",
    b"ISEMPTY", b"ISNULL", b"ISSIMPLE", b"IS_IPV4", b"IS_IPV4_COMPAT", b"IS_IPV4_MAPPED",
    b"IS_IPV6", b"IS_UUID", b"JOIN", b"JSON", b"KDF", b"KEY", b"LAG", b"LAST_DAY",
    b"LAST_VALUE", b"LATERAL", b"LCASE", b"LEAD", b"LEADING", b"LEAST", b"LEFT", b"LENGTH",
    b"LENGTHB", b"LIKE", b"LIMIT", b"LINESTRING", b"LN", b"LOAD_FILE", b"LOCALTIME",
    b"LOCALTIMESTAMP", b"LOCATE", b"LOG", b"LOG10", b"LOG2", b"LOWER", b"LPAD", b"LTRIM",
    b"MAKEDATE", b"MAKETIME", b"MAKE_SET", b"MASTER_GTID_WAIT", b"MASTER_POS_WAIT", b"MATCH",
    b"MAX", b"MD5", b"MEDIAN", b"MEDIUMINT", b"MICROSECOND", b"MID", b"MIN", b"MINUS",
    b"MINUTE", b"MOD", b"MONTH", b"MONTHNAME", b"MULTILINESTRING", b"MULTIPOINT",
    b"MULTIPOLYGON", b"NAME_CONST", b"NATIONAL", b"NATURAL", b"NATURAL_SORT_KEY", b"NCHAR",
    b"NESTED", b"NEXT", b"NOT", b"NOW", b"NTH_VALUE", b"NTILE", b"NULL", b"NULLIF", b"NUMERIC",
    b"NUMGEOMETRIES", b"NUMINTERIORRINGS", b"NUMPOINTS", b"NVL", b"NVL2", b"OCT",
    b"OCTET_LENGTH", b"OF", b"OFFSET", b"OLD_PASSWORD", b"ON", b"ONLY", b"OR", b"ORD",
    b"ORDER", b"OUTER", b"OVER", b"OVERLAPS", b"PARTITION", b"PARTITIONS", b"PASSWORD",
    b"PATH", b"PERCENTILE_CONT", b"PERCENTILE_DISC", b"PERCENT_RANK", b"PERIOD_ADD",
    b"PERIOD_DIFF", b"PI", b"POINT", b"POINTN", b"POLYGON", b"POSITION", b"POW", b"POWER",
    b"PRIMARY", b"QUARTER", b"QUOTE", b"RADIANS", b"RAND", b"RANDOM_BYTES", b"RANK", b"REAL",
    b"RECURSIVE", b"REFERENCES", b"REGEXP", b"REPEAT", b"REPLACE", b"RETURNING", b"REVERSE",
    b"RIGHT", b"RLIKE", b"ROLES_GRAPHML", b"ROUND", b"ROW", b"ROWS", b"ROW_NUMBER", b"RPAD",
    b"RTRIM", b"SCHEMA", b"SECOND", b"SEC_TO_TIME", b"SELECT", b"SEPARATOR", b"SESSION_USER",
    b"SET", b"SFORMAT", b"SHA", b"SHA1", b"SHA2", b"SIGN", b"SIGNED", b"SIN", b"SLEEP",
    b"SMALLINT", b"SOME", b"SOUNDEX", b"SOUNDS", b"SOURCE_POS_WAIT", b"SPACE", b"SQRT",
    b"SRID", b"STARTPOINT", b"STATEMENT_DIGEST", b"STATEMENT_DIGEST_TEXT", b"STD", b"STDDEV",
    b"STDDEV_POP", b"STDDEV_SAMP", b"STRAIGHT_JOIN", b"STRCMP", b"STR_TO_DATE", b"SUBDATE",
    b"SUBSTR", b"SUBSTRING", b"SUBSTRING_INDEX", b"SUBTIME", b"SUM", b"SYSDATE",
    b"SYSTEM_USER", b"SYS_GUID", b"TAN", b"TEXT", b"THEN", b"TIES", b"TIME", b"TIMEDIFF",
    b"TIMESTAMP", b"TIMESTAMPADD", b"TIMESTAMPDIFF", b"TIME_FORMAT", b"TIME_TO_SEC",
    b"TINYINT", b"TOUCHES", b"TO_BASE64", b"TO_CHAR", b"TO_DAYS", b"TO_NUMBER", b"TO_SECONDS",
    b"TRAILING", b"TRIM", b"TRIM_ORACLE", b"TRUE", b"TRUNCATE", b"UCASE", b"UNCOMPRESS",
    b"UNCOMPRESSED_LENGTH", b"UNHEX", b"UNION", b"UNIQUE", b"UNIX_TIMESTAMP", b"UNKNOWN",
    b"UNSIGNED", b"UPDATE", b"UPDATEXML", b"UPPER", b"USE", b"USER", b"USING", b"UTC_DATE",
    b"UTC_TIME", b"UTC_TIMESTAMP", b"UUID", b"UUID_SHORT", b"UUID_TO_BIN",
    b"VALIDATE_PASSWORD_STRENGTH", b"VALUE", b"VALUES", b"VARBINARY", b"VARCHAR", b"VARIANCE",
    b"VAR_POP", b"VAR_SAMP", b"VERSION", b"WAIT_FOR_EXECUTED_GTID_SET", b"WEEK", b"WEEKDAY",
    b"WEEKOFYEAR", b"WEIGHT_STRING", b"WHEN", b"WHERE", b"WINDOW", b"WITH", b"WITHIN", b"X",
    b"XOR", b"Y", b"YEAR", b"YEARWEEK",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_list_is_sorted_and_upper_case() {
        assert!(PURE.windows(2).all(|w| w[0] < w[1]));
        assert!(PURE.iter().all(|n| !n.iter().any(u8::is_ascii_lowercase)));
    }

    #[test]
    fn classes() {
        assert_eq!(function_class(b"NOW"), FuncClass::Pure);
        assert_eq!(function_class(b"ST_DISTANCE"), FuncClass::Pure);
        assert_eq!(function_class(b"GET_LOCK"), FuncClass::SideEffect);
        assert_eq!(function_class(b"LAST_INSERT_ID"), FuncClass::Session);
        assert_eq!(function_class(b"FOUND_ROWS"), FuncClass::Diagnostics);
        assert_eq!(function_class(b"MY_FUNC"), FuncClass::Stored);
        assert_eq!(
            sysvar_class(b"session.warning_count"),
            FuncClass::Diagnostics
        );
        assert_eq!(sysvar_class(b"IDENTITY"), FuncClass::Session);
        assert_eq!(sysvar_class(b"version"), FuncClass::Pure);
    }
}

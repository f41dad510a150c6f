# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, infer_types=True
"""The in-memory scan, compiled: the same pairs, scores and links as
``scan._Memory`` (features, key passes, name neighbourhood passes, scoring),
without the interpreter's cost per value and per pair, which is most of a
small scan's time (1,000 leads: ~15 ms in Python and numpy).

Strings stay Python strings; plain ASCII is folded here byte by byte, any
other text goes through the Python function it stands for (``keys.letters``,
``score._fold``, ...), so every value is what ``score.features_of`` makes of
it. String similarities are rapidfuzz's algorithms (Jaro-Winkler, token
sort ratio) step for step, to the last bit, without the cost of a call into
it per pair; the score is the float arithmetic of ``score.scorer`` in the
same order: the verdicts are equal to the last bit (tests hold the two
paths equal). Built when a C compiler is there
(``setup.py``); ``scan`` falls back to the Python path when it is not.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.math cimport fabs, floor
from libc.string cimport memcmp, memcpy, memset

from leadbase.dedupe import keys as _keys
from leadbase.dedupe import normalise as _norm
from leadbase.dedupe import score as _score

from cpython.object cimport Py_EQ, PyObject_RichCompareBool
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM


cdef extern from "Python.h":
    bint PyUnicode_CheckExact(object o)
    Py_UCS4 PyUnicode_READ(int kind, const void* data, Py_ssize_t index)
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL
    Py_UCS4 PyUnicode_READ_CHAR(object o, Py_ssize_t index)
    int PyUnicode_Compare(object a, object b) except? -1
    object PyUnicode_DecodeUTF8(const char* data, Py_ssize_t size, const char* errors)
    int PyObject_GenericSetAttr(object o, object name, object value) except -1
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    int PyUnicode_KIND(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    bint PyUnicode_IS_ASCII(object o)


cdef inline bint _ascii_text(object value):
    """A str of plain ASCII (its bytes can be read directly). Anything else
    (another type, which a text column should not hold) goes the Python
    way, which raises what the Python path raises."""
    return PyUnicode_CheckExact(value) and PyUnicode_IS_ASCII(value)


# --- string similarities: rapidfuzz's, step for step --------------------------------

cdef double jaro_winkler(str a, str b) except -1.0:
    """``JaroWinkler.similarity(a, b)``: rapidfuzz's algorithm and float
    operations, step for step (the tests hold the two equal), without its
    call's cost: each character of b, in order, matches the first
    unmatched equal character of a within the window; a common prefix of
    up to 4 characters adds 0.1 each of what is left above 0.7."""
    return _jaro_winkler(
        PyUnicode_KIND(a), PyUnicode_DATA(a), PyUnicode_GET_LENGTH(a),
        PyUnicode_KIND(b), PyUnicode_DATA(b), PyUnicode_GET_LENGTH(b),
    )


cdef double _jaro_winkler(
    int kind_a, const void* data_a, Py_ssize_t size_a, int kind_b, const void* data_b, Py_ssize_t size_b
) except -1.0:
    """jaro_winkler of two texts given as (kind, data, length), as a Python
    string holds them (kind 4: an array of code points)."""
    cdef Py_ssize_t prefix = 0, most = min(min(size_a, size_b), 4)
    while prefix < most and PyUnicode_READ(kind_a, data_a, prefix) == PyUnicode_READ(kind_b, data_b, prefix):
        prefix += 1
    cdef double sim = _jaro(kind_a, data_a, size_a, kind_b, data_b, size_b)
    if sim > 0.7:
        sim += <double>prefix * _PREFIX_WEIGHT * (1.0 - sim)
        sim = min(sim, 1.0)
    return sim


cdef double _PREFIX_WEIGHT = 0.1  # rapidfuzz's default


cdef double _jaro(
    int kind_p, const void* p, Py_ssize_t p_size, int kind_t, const void* t, Py_ssize_t t_size
) except -1.0:
    """rapidfuzz's jaro_similarity (score_cutoff 0) of p and t."""
    if not p_size and not t_size:
        return 1.0
    if not p_size or not t_size:
        return 0.0
    if p_size == 1 and t_size == 1:
        return 1.0 if PyUnicode_READ(kind_p, p, 0) == PyUnicode_READ(kind_t, t, 0) else 0.0
    # The window; the part of the longer one no character can reach is left out.
    cdef Py_ssize_t bound, p_end = p_size, t_end = t_size
    if t_size > p_size:
        bound = t_size // 2 - 1
        t_end = min(t_size, p_size + bound)
    else:
        bound = p_size // 2 - 1
        p_end = min(p_size, t_size + bound)
    cdef Py_ssize_t common = 0, i, j, low, high, transpositions = 0, p_at
    while common < p_end and common < t_end and (
        PyUnicode_READ(kind_p, p, common) == PyUnicode_READ(kind_t, t, common)
    ):
        common += 1
    cdef char p_stack[256]
    cdef char t_stack[256]
    cdef char* p_flag = p_stack
    cdef char* t_flag = t_stack
    if p_end > 256 or t_end > 256:
        p_flag, t_flag = <char*>malloc(p_end + 1), <char*>malloc(t_end + 1)
        if p_flag == NULL or t_flag == NULL:
            free(p_flag)
            free(t_flag)
            raise MemoryError()
    cdef Py_UCS4 c
    cdef Py_ssize_t matched = 0
    try:
        memset(p_flag, 0, p_end)
        memset(t_flag, 0, t_end)
        if common < p_end and common < t_end:
            for j in range(common, t_end):
                c = PyUnicode_READ(kind_t, t, j)
                low = max(common, j - bound)
                high = min(p_end, j + bound + 1)
                for i in range(low, high):
                    if not p_flag[i] and PyUnicode_READ(kind_p, p, i) == c:
                        p_flag[i] = t_flag[j] = 1
                        matched += 1
                        break
            if common + matched == 0:
                return 0.0
            p_at = common
            for j in range(common, t_end):
                if t_flag[j]:
                    while not p_flag[p_at]:
                        p_at += 1
                    if PyUnicode_READ(kind_t, t, j) != PyUnicode_READ(kind_p, p, p_at):
                        transpositions += 1
                    p_at += 1
    finally:
        if p_flag != p_stack:
            free(p_flag)
            free(t_flag)
    common += matched
    transpositions //= 2
    cdef double sim = 0.0
    sim += <double>common / <double>p_size
    sim += <double>common / <double>t_size
    sim += (<double>common - <double>transpositions) / <double>common
    return sim / 3.0


cdef double sort_ratio(str a, str b) except -1.0:
    """``fuzz.token_sort_ratio(a, b)``: rapidfuzz's algorithm and float
    operations (the tests hold the two equal): each text's words sorted
    and joined by one space, then 100 * (1 - Indel distance / total length),
    the distance from the longest common subsequence."""
    cdef Py_UCS4 stack_a[256]
    cdef Py_UCS4 stack_b[256]
    cdef Py_UCS4* joined_a = stack_a
    cdef Py_UCS4* joined_b = stack_b
    cdef Py_ssize_t size_a = PyUnicode_GET_LENGTH(a), size_b = PyUnicode_GET_LENGTH(b)
    if size_a > 256:
        joined_a = <Py_UCS4*>malloc(size_a * sizeof(Py_UCS4))
    if size_b > 256:
        joined_b = <Py_UCS4*>malloc(size_b * sizeof(Py_UCS4))
    cdef Py_ssize_t length_a, length_b, common, maximum
    cdef double norm_dist
    try:
        if joined_a == NULL or joined_b == NULL:
            raise MemoryError()
        length_a = _sorted_words(a, joined_a)
        length_b = _sorted_words(b, joined_b)
        common = _common_subsequence(joined_a, length_a, joined_b, length_b)
    finally:
        if joined_a != stack_a:
            free(joined_a)
        if joined_b != stack_b:
            free(joined_b)
    maximum = length_a + length_b
    norm_dist = <double>(maximum - 2 * common) / <double>maximum if maximum else 0.0
    return (1.0 - norm_dist) * 100


cdef inline bint _space(Py_UCS4 c, int kind):
    """rapidfuzz's is_space: for 1-byte text only the ASCII white space."""
    if c == 0x20 or 0x09 <= c <= 0x0D or 0x1C <= c <= 0x1F:
        return True
    if kind == 1:
        return False
    return (
        c == 0x85 or c == 0xA0 or c == 0x1680 or 0x2000 <= c <= 0x200A or c == 0x2028
        or c == 0x2029 or c == 0x202F or c == 0x205F or c == 0x3000
    )


cdef Py_ssize_t _sorted_words(str text, Py_UCS4* out) except -1:
    """The text's words (split on white space) sorted by code points and
    joined by one space, into ``out`` (room for the text's length): its length."""
    cdef int kind = PyUnicode_KIND(text)
    cdef const void* data = PyUnicode_DATA(text)
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text), at = 0, start, words = 0, n, k, made = 0
    cdef Py_ssize_t stack_bounds[256]
    cdef Py_ssize_t* bounds = stack_bounds  # start, end of each word
    if size + 2 > 256:
        bounds = <Py_ssize_t*>malloc((size + 2) * sizeof(Py_ssize_t))
        if bounds == NULL:
            raise MemoryError()
    try:
        while at < size:
            while at < size and _space(PyUnicode_READ(kind, data, at), kind):
                at += 1
            if at == size:
                break
            start = at
            while at < size and not _space(PyUnicode_READ(kind, data, at), kind):
                at += 1
            # insertion sort: move the larger words after this one
            n = words
            while n > 0 and _word_less(kind, data, start, at, bounds[2 * n - 2], bounds[2 * n - 1]):
                bounds[2 * n], bounds[2 * n + 1] = bounds[2 * n - 2], bounds[2 * n - 1]
                n -= 1
            bounds[2 * n], bounds[2 * n + 1] = start, at
            words += 1
        for n in range(words):
            if n:
                out[made] = 0x20
                made += 1
            for k in range(bounds[2 * n], bounds[2 * n + 1]):
                out[made] = PyUnicode_READ(kind, data, k)
                made += 1
    finally:
        if bounds != stack_bounds:
            free(bounds)
    return made


cdef inline bint _word_less(
    int kind, const void* data, Py_ssize_t a, Py_ssize_t a_end, Py_ssize_t b, Py_ssize_t b_end
):
    """std::lexicographical_compare of two words of one text."""
    cdef Py_UCS4 x, y
    while a < a_end and b < b_end:
        x, y = PyUnicode_READ(kind, data, a), PyUnicode_READ(kind, data, b)
        if x != y:
            return x < y
        a += 1
        b += 1
    return a == a_end and b < b_end


cdef Py_ssize_t _common_subsequence(
    const Py_UCS4* a, Py_ssize_t size_a, const Py_UCS4* b, Py_ssize_t size_b
) except -1:
    """The length of the longest common subsequence: bit-parallel when
    ``a`` is at most 64 characters below U+0100, else by rows."""
    cdef uint64_t masks[256]
    cdef uint64_t rest, matched, low
    cdef Py_ssize_t at, n
    if not size_a or not size_b:
        return 0
    cdef bint small = size_a <= 64
    if small:
        for at in range(size_a):
            if a[at] > 0xFF:
                small = False
                break
    if small:
        memset(masks, 0, sizeof(masks))
        for at in range(size_a):
            masks[a[at]] |= (<uint64_t>1) << at
        rest = ~(<uint64_t>0)
        for at in range(size_b):
            if b[at] > 0xFF:
                continue
            matched = rest & masks[b[at]]
            rest = (rest + matched) | (rest - matched)
        low = ~(<uint64_t>0) if size_a == 64 else (((<uint64_t>1) << size_a) - 1)
        return _popcount(~rest & low)
    cdef Py_ssize_t* row = <Py_ssize_t*>calloc(size_b + 1, sizeof(Py_ssize_t))
    if row == NULL:
        raise MemoryError()
    cdef Py_ssize_t diagonal, above
    try:
        for at in range(size_a):
            diagonal = 0
            for n in range(1, size_b + 1):
                above = row[n]
                if a[at] == b[n - 1]:
                    row[n] = diagonal + 1
                elif row[n - 1] > above:
                    row[n] = row[n - 1]
                diagonal = above
        return row[size_b]
    finally:
        free(row)


cdef inline Py_ssize_t _popcount(uint64_t bits):
    cdef Py_ssize_t found = 0
    while bits:
        bits &= bits - 1
        found += 1
    return found


def similarity(str a, str b):
    """(Jaro-Winkler, token sort ratio) of two strings, as this module
    computes them (for the tests)."""
    return jaro_winkler(a, b), sort_ratio(a, b)


# --- SQLite read directly ---------------------------------------------------------
#
# Python's sqlite3 reads a row a column at a time through three calls into
# SQLite (type, text, length), each taking the connection's mutex, and lets
# go of the interpreter lock for every row: a third of a 1,000-lead scan.
# Here the same rows are read through the same connection (its handle, the
# first field of the sqlite3.Connection object) into the same tuples, with
# two calls a value, the lock let go every 256 rows. Used only when the
# SQLite library Python's sqlite3 uses is the one loaded here (same version,
# the handle names the same database file); else the caller reads as before.

cdef extern from "dlfcn.h":
    void* dlopen(const char* filename, int flags)
    void* dlsym(void* handle, const char* symbol)
    int RTLD_NOW
    int RTLD_NOLOAD

cdef extern from *:
    """
    typedef struct { PyObject_HEAD void* db; } leadbase_sqlite_connection;
    """
    ctypedef struct leadbase_sqlite_connection:
        void* db

ctypedef int (*_prepare_f)(void*, const char*, int, void**, const char**) noexcept nogil
ctypedef int (*_stmt_f)(void*) noexcept nogil
ctypedef void* (*_column_f)(void*, int) noexcept nogil
ctypedef int (*_value_f)(void*) noexcept nogil
ctypedef const char* (*_value_text_f)(void*) noexcept nogil
ctypedef long long (*_value_int64_f)(void*) noexcept nogil
ctypedef double (*_value_double_f)(void*) noexcept nogil
ctypedef const char* (*_filename_f)(void*, const char*) noexcept nogil
ctypedef const char* (*_errmsg_f)(void*) noexcept nogil
ctypedef const char* (*_version_f)() noexcept nogil

# A value is read through sqlite3_column_value (which takes the mutex once)
# and the sqlite3_value_* functions (which take none).
cdef _prepare_f _prepare = NULL
cdef _stmt_f _step = NULL, _finalize = NULL, _column_count = NULL
cdef _column_f _column_value = NULL
cdef _value_f _value_type = NULL, _value_bytes = NULL
cdef _value_text_f _value_text = NULL, _value_blob = NULL
cdef _value_int64_f _value_int64 = NULL
cdef _value_double_f _value_double = NULL
cdef _filename_f _db_filename = NULL
cdef _errmsg_f _errmsg = NULL


cdef bint _load_sqlite():
    """Whether Python's SQLite library was found loaded, and its functions."""
    global _prepare, _step, _finalize, _column_count, _column_value, _value_type
    global _value_bytes, _value_text, _value_blob, _value_int64, _value_double
    global _db_filename, _errmsg
    import sqlite3

    cdef void* library = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_NOLOAD)
    if library == NULL:
        return False
    cdef _version_f version = <_version_f>dlsym(library, "sqlite3_libversion")
    if version == NULL or version().decode() != sqlite3.sqlite_version:
        return False
    _prepare = <_prepare_f>dlsym(library, "sqlite3_prepare_v2")
    _step = <_stmt_f>dlsym(library, "sqlite3_step")
    _finalize = <_stmt_f>dlsym(library, "sqlite3_finalize")
    _column_count = <_stmt_f>dlsym(library, "sqlite3_column_count")
    _column_value = <_column_f>dlsym(library, "sqlite3_column_value")
    _value_type = <_value_f>dlsym(library, "sqlite3_value_type")
    _value_bytes = <_value_f>dlsym(library, "sqlite3_value_bytes")
    _value_text = <_value_text_f>dlsym(library, "sqlite3_value_text")
    _value_blob = <_value_text_f>dlsym(library, "sqlite3_value_blob")
    _value_int64 = <_value_int64_f>dlsym(library, "sqlite3_value_int64")
    _value_double = <_value_double_f>dlsym(library, "sqlite3_value_double")
    _db_filename = <_filename_f>dlsym(library, "sqlite3_db_filename")
    _errmsg = <_errmsg_f>dlsym(library, "sqlite3_errmsg")
    return not (
        _prepare == NULL or _step == NULL or _finalize == NULL or _column_count == NULL
        or _column_value == NULL or _value_type == NULL or _value_bytes == NULL
        or _value_text == NULL or _value_blob == NULL or _value_int64 == NULL
        or _value_double == NULL or _db_filename == NULL or _errmsg == NULL
    )


import sqlite3 as _sqlite3

cdef bint _sqlite_found = _load_sqlite()


cdef void* _handle(object connection) except? NULL:
    """The connection's SQLite handle, or NULL when it can't be read here."""
    if not _sqlite_found or type(connection) is not _sqlite3.Connection:
        return NULL
    if connection.text_factory is not str:
        return NULL
    cdef void* db = (<leadbase_sqlite_connection*><void*>connection).db
    if db == NULL:
        return NULL
    cdef const char* name = _db_filename(db, "main")
    listed = connection.execute("PRAGMA database_list").fetchall()
    main = next((row[2] for row in listed if row[1] == "main"), None)
    if name == NULL or main is None or name.decode() != main:
        return NULL
    return db


def sqlite_rows(object connection, str sql):
    """``connection.execute(sql).fetchall()`` of a query without
    parameters: the same list of tuples. None when the connection can't be
    read directly (the caller reads it the usual way)."""
    cdef void* db = _handle(connection)
    if db == NULL:
        return None
    encoded = sql.encode()
    cdef void* statement = NULL
    cdef int code = _prepare(db, encoded, len(encoded), &statement, NULL)
    if code != 0:
        raise _sqlite3.OperationalError(_errmsg(db).decode(errors="replace"))
    cdef list rows = []
    cdef int columns = _column_count(statement), at, kind
    cdef Py_ssize_t read = 0
    cdef tuple row
    cdef const char* text
    cdef void* cell
    cdef _ShortTexts short = _ShortTexts()
    try:
        while True:
            if read & 255 == 0:
                with nogil:
                    code = _step(statement)
            else:
                code = _step(statement)
            if code != 100:  # SQLITE_ROW
                break
            read += 1
            row = PyTuple_New(columns)
            for at in range(columns):
                cell = _column_value(statement, at)
                kind = _value_type(cell)
                if kind == 3:  # SQLITE_TEXT
                    text = _value_text(cell)
                    value = short.text(text, _value_bytes(cell))
                elif kind == 5:  # SQLITE_NULL
                    value = None
                elif kind == 1:  # SQLITE_INTEGER
                    value = _value_int64(cell)
                elif kind == 2:  # SQLITE_FLOAT
                    value = _value_double(cell)
                else:  # SQLITE_BLOB
                    text = _value_blob(cell)
                    value = text[:_value_bytes(cell)] if text != NULL else b""
                Py_INCREF(value)
                PyTuple_SET_ITEM(row, at, value)
            rows.append(row)
        if code != 101:  # SQLITE_DONE
            raise _sqlite3.OperationalError(_errmsg(db).decode(errors="replace"))
    finally:
        _finalize(statement)
    return rows


cdef class _ShortTexts:
    """The short texts of one read, one string each: a column's few values
    (states, countries, postcodes, first names) are read again and again;
    one string for them saves making one per row, and its hash, worked out
    once, serves every memo and key lookup after. A text of up to 8 bytes
    of plain ASCII is kept by its bytes (a cache: a slot taken is replaced)."""

    cdef uint64_t keys[1024]
    cdef Py_ssize_t sizes[1024]
    cdef PyObject* strings[1024]  # a reference held by each slot taken

    def __cinit__(self):
        memset(self.sizes, 0xff, sizeof(self.sizes))  # -1: an empty slot
        memset(self.strings, 0, sizeof(self.strings))

    def __dealloc__(self):
        cdef Py_ssize_t slot
        for slot in range(1024):
            Py_XDECREF(self.strings[slot])

    cdef object text(self, const char* data, Py_ssize_t size):
        """The str of ``size`` bytes of UTF-8 at ``data``."""
        if size > 8:
            return PyUnicode_DecodeUTF8(data, size, NULL)
        cdef uint64_t key = 0
        memcpy(&key, data, size)  # the bytes, zero-padded: with the size, the text
        if key & 0x8080808080808080ULL:  # not plain ASCII
            return PyUnicode_DecodeUTF8(data, size, NULL)
        cdef Py_ssize_t slot = <Py_ssize_t>((key * 0x9E3779B97F4A7C15ULL + <uint64_t>size) >> 54)
        if self.sizes[slot] == size and self.keys[slot] == key:
            return <object>self.strings[slot]
        found = _ascii(data, size)
        Py_XDECREF(self.strings[slot])
        Py_INCREF(found)
        self.strings[slot] = <PyObject*>found
        self.keys[slot], self.sizes[slot] = key, size
        return found


# --- frozen dataclasses, made without their __init__'s cost -------------------------

cdef object _frozen(object cls, tuple fields, tuple values):
    """``cls(*values)`` of a frozen dataclass without a __post_init__: its
    fields set as its own __init__ sets them (object.__setattr__), without
    a Python call per field (Verdict and Cluster: one per pair, per cluster)."""
    cdef object made = _object_new(cls)
    cdef Py_ssize_t at
    for at in range(len(fields)):
        PyObject_GenericSetAttr(made, fields[at], values[at])
    return made


_object_new = object.__new__
cdef tuple _VERDICT_FIELDS = ("score", "reasons", "action")
cdef tuple _CLUSTER_FIELDS = ("lead_ids", "score", "reasons", "action")


# --- plain ASCII folded byte by byte -----------------------------------------------

cdef char* _buffer = NULL
cdef Py_ssize_t _capacity = 0


cdef char* _room(Py_ssize_t size) except NULL:
    global _buffer, _capacity
    cdef char* grown
    if size > _capacity:
        grown = <char*>realloc(_buffer, size + 256)
        if grown == NULL:
            raise MemoryError()
        _buffer, _capacity = grown, size + 256
    return _buffer


cdef inline object _ascii(const char* text, Py_ssize_t size):
    cdef object made = PyUnicode_New(size, 127)
    memcpy(PyUnicode_DATA(made), text, size)
    return made


cdef inline char _lower(char c):
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint _letter(char c):  # a lower-case ASCII letter
    return 97 <= c <= 122


cdef inline bint _digit(char c):
    return 48 <= c <= 57


cdef Py_ssize_t _SORT_KEY_MAX = _norm.SORT_KEY_MAX


cdef object _letters(object word):
    """``keys.letters(word)``: case gone, only letters (the first 255
    characters, as ``normalise.sort_key`` cuts)."""
    if not word:
        return None
    if not _ascii_text(word):
        return _keys.letters(word)
    cdef Py_ssize_t size = min(PyUnicode_GET_LENGTH(word), _SORT_KEY_MAX)
    cdef const char* text = <const char*>PyUnicode_DATA(word)
    cdef char* out = _room(size)
    cdef Py_ssize_t at, made = 0
    cdef char c
    for at in range(size):
        c = _lower(text[at])
        if _letter(c):
            out[made] = c
            made += 1
    return _same_or_new(word, out, made) if made else None


cdef inline object _same_or_new(object text, const char* made, Py_ssize_t size):
    """``text`` itself when it is already what was made (most names and
    places are stored folded), else a new string of ``made``."""
    if size == PyUnicode_GET_LENGTH(text) and memcmp(PyUnicode_DATA(text), made, size) == 0:
        return text
    return _ascii(made, size)


cdef object _fold(object text):
    """``score._fold(text)``: the letter words, lower case, one space apart."""
    if not text:
        return None
    if not _ascii_text(text):
        return _score._fold(text)
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    cdef const char* data = <const char*>PyUnicode_DATA(text)
    cdef char* out = _room(size)
    cdef Py_ssize_t at, made = 0
    cdef bint in_word = False
    cdef char c
    for at in range(size):
        c = _lower(data[at])
        if _letter(c):
            if not in_word and made:
                out[made] = 32
                made += 1
            out[made] = c
            made += 1
            in_word = True
        else:
            in_word = False
    return _same_or_new(text, out, made) if made else None


cdef dict _STREET_WORDS = _score._STREET_WORDS
cdef Py_ssize_t _LONGEST_SHORT = max(len(short) for short in _STREET_WORDS)
cdef Py_ssize_t _LONGEST_LONG = max(len(long) for long in _STREET_WORDS.values())


cdef tuple _street(object text):
    """``score._street(text)``: (words with abbreviations spelled out, house
    number: the first digits and a letter after them)."""
    if not text:
        return (None, None)
    if not _ascii_text(text):
        return _score._street(text)
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    cdef const char* data = <const char*>PyUnicode_DATA(text)
    cdef Py_ssize_t at = 0, start, end, made = 0
    cdef object house = None, word, spelled
    while at < size and not _digit(data[at]):
        at += 1
    if at < size:
        end = at
        while end < size and _digit(data[end]):
            end += 1
        if end < size and _letter(_lower(data[end])):
            end += 1
        out = _room(end - at)
        for start in range(at, end):
            out[start - at] = _lower(data[start])
        house = _ascii(out, end - at)
    # Each word a run of letters; short ones spelled out.
    cdef char* words = _room(size * (_LONGEST_LONG + 1) + 1)
    at = 0
    while at < size:
        if not _letter(_lower(data[at])):
            at += 1
            continue
        start = at
        while at < size and _letter(_lower(data[at])):
            at += 1
        if made:
            words[made] = 32
            made += 1
        for end in range(start, at):
            words[made + end - start] = _lower(data[end])
        if at - start <= _LONGEST_SHORT:
            word = _ascii(words + made, at - start)
            spelled = _STREET_WORDS.get(word)
            if spelled is not None:
                memcpy(words + made, PyUnicode_DATA(spelled), PyUnicode_GET_LENGTH(spelled))
                made += PyUnicode_GET_LENGTH(spelled)
                continue
        made += at - start
    return (_same_or_new(text, words, made) if made else None, house)


cdef object _postcode(object text):
    """``score._postcode(text)``: white space gone, upper case."""
    if not text:
        return None
    if not _ascii_text(text):
        return _score._postcode(text)
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text)
    cdef const char* data = <const char*>PyUnicode_DATA(text)
    cdef char* out = _room(size)
    cdef Py_ssize_t at, made = 0
    cdef char c
    for at in range(size):
        c = data[at]
        if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:  # str.split's white space
            continue
        out[made] = c - 32 if 97 <= c <= 122 else c
        made += 1
    return _same_or_new(text, out, made)


cdef object _fold_name(object text):
    """``scan._fold_name``: lower case for plain ASCII, ``sort_key`` else; "" for none."""
    if not text:
        return ""
    if _ascii_text(text):
        return text.lower()
    return _norm.sort_key(text) or ""


cdef object _first_number(object street):
    """The first run of digits of a street (``scan._HOUSE``), or None: for
    the streets _house_code can't code (not ASCII, or a long number)."""
    found = _FIRST_NUMBER.search(street) if street else None
    return found.group(0) if found is not None else None


import builtins as _builtins
import re as _re

_round = _builtins.round
_tuple_new = tuple.__new__

_FIRST_NUMBER = _re.compile(r"\d+")


# --- features ----------------------------------------------------------------------

FIELDS = _score.Features._fields
cdef int F_EMAIL = 0, F_LINKEDIN = 1, F_RECORD = 2, F_FIRST = 3, F_LAST = 4, F_PHONE = 5
cdef int F_COMPANY = 6, F_DOMAIN = 7, F_STREET = 8, F_HOUSE = 9, F_LINE2 = 10, F_CITY = 11
cdef int F_POSTCODE = 12, F_STATE = 13, F_COUNTRY = 14
if FIELDS[F_COUNTRY] != "country" or FIELDS[F_FIRST] != "first":  # pragma: no cover
    raise ImportError("score.Features changed: _native needs the same order")


cdef object _memo(dict seen, object value, object (*fold)(object)):
    found = seen.get(value, seen)
    if found is seen:
        found = seen[value] = fold(value)
    return found


def features(list rows, tuple at, Py_ssize_t none_at=-1):
    """``score.features_of`` of each row's FEATURE_FIELDS (at positions
    ``at``), a column at a time: ``Features._fields`` columns of values.
    ``none_at``: a position where every row holds None (the columns no
    lead has point there), or -1."""
    cdef Py_ssize_t count = len(rows), n
    cdef list columns = [[None] * count for _ in FIELDS]
    cdef list email_c = columns[F_EMAIL], linkedin_c = columns[F_LINKEDIN]
    cdef list record_c = columns[F_RECORD], first_c = columns[F_FIRST], last_c = columns[F_LAST]
    cdef list phone_c = columns[F_PHONE], company_c = columns[F_COMPANY]
    cdef list domain_c = columns[F_DOMAIN], street_c = columns[F_STREET]
    cdef list house_c = columns[F_HOUSE], line2_c = columns[F_LINE2], city_c = columns[F_CITY]
    cdef list postcode_c = columns[F_POSTCODE], state_c = columns[F_STATE]
    cdef list country_c = columns[F_COUNTRY]
    cdef dict names = {}, places = {}, postcodes = {}
    cdef tuple row, street
    cdef Py_ssize_t first_at, last_at, full_at, email_at, linkedin_at, provider_at
    cdef Py_ssize_t external_at, phone_at, company_at, company_domain_at, street_at
    cdef Py_ssize_t line2_at, city_at, state_at, postcode_at, country_at, key_email_at
    cdef Py_ssize_t key_domain_at
    (
        first_at, last_at, full_at, email_at, linkedin_at, provider_at, external_at,
        phone_at, company_at, company_domain_at, street_at, line2_at, city_at, state_at,
        postcode_at, country_at, key_email_at, key_domain_at,
    ) = at
    canonical_email, company_name_key = _keys.canonical_email, _norm.company_name_key
    # Whether any lead may have an email, a LinkedIn URL, a source's record,
    # a phone or an employer (names and addresses only: none of them).
    cdef bint identities = none_at < 0 or any(
        position != none_at
        for position in (
            email_at, linkedin_at, provider_at, external_at, phone_at, company_at,
            company_domain_at, key_email_at, key_domain_at,
        )
    )
    company_domain_key, split_name = _keys.company_domain_key, _norm.split_name
    for n in range(count):
        row = rows[n]
        first, last = row[first_at], row[last_at]
        if not first and not last:
            full = row[full_at]
            if full:
                first, last = split_name(full)
        # Plain ASCII is folded here faster than a memo finds it (a value
        # already folded is kept, not copied); other text goes through one.
        first_c[n] = _letters(first) if _ascii_text(first) else _memo(names, first, _letters)
        last_c[n] = _letters(last) if _ascii_text(last) else _memo(names, last, _letters)
        if identities:
            email = row[email_at]
            key = row[key_email_at]
            email_c[n] = key or (canonical_email(email) if email else None)
            linkedin_c[n] = row[linkedin_at]
            provider, external = row[provider_at], row[external_at]
            if provider and external:
                record_c[n] = (provider, external)
            phone_c[n] = row[phone_at]
            company = row[company_at]
            if company:
                company_c[n] = company_name_key(company)
            domain = row[key_domain_at]
            if not domain:
                company_domain = row[company_domain_at]
                domain = company_domain_key(company_domain, email) if company_domain or email else None
            domain_c[n] = domain
        street = _street(row[street_at])
        street_c[n], house_c[n] = street
        line2_c[n] = _fold(row[line2_at])
        city = row[city_at]
        city_c[n] = _fold(city) if _ascii_text(city) else _memo(places, city, _fold)
        postcode = row[postcode_at]
        postcode_c[n] = _postcode(postcode) if _ascii_text(postcode) else _memo(postcodes, postcode, _postcode)
        state_c[n] = _memo(places, row[state_at], _fold)
        country_c[n] = _memo(places, row[country_at], _fold)
    return columns


# --- a set of pair codes -----------------------------------------------------------

cdef class _Codes:
    """A set of non-negative int64 codes (open addressing)."""

    cdef int64_t* slots
    cdef Py_ssize_t size, used

    def __cinit__(self):
        self.size, self.used = 1024, 0
        self.slots = <int64_t*>malloc(self.size * sizeof(int64_t))
        if self.slots == NULL:
            raise MemoryError()
        memset(self.slots, 0xff, self.size * sizeof(int64_t))  # -1: empty

    def __dealloc__(self):
        free(self.slots)

    cdef inline Py_ssize_t _slot(self, int64_t code):
        cdef uint64_t mixed = <uint64_t>code * 0x9E3779B97F4A7C15ULL
        cdef Py_ssize_t at = <Py_ssize_t>(mixed >> 20) & (self.size - 1)
        while self.slots[at] != -1 and self.slots[at] != code:
            at = (at + 1) & (self.size - 1)
        return at

    cdef inline bint has(self, int64_t code):
        return self.slots[self._slot(code)] == code

    cdef int add(self, int64_t code) except -1:
        """Add a code: 1 when new, 0 when there already."""
        cdef Py_ssize_t at = self._slot(code)
        if self.slots[at] == code:
            return 0
        self.slots[at] = code
        self.used += 1
        if self.used * 2 > self.size:
            self._grow()
        return 1

    cdef int _grow(self) except -1:
        cdef int64_t* old = self.slots
        cdef Py_ssize_t old_size = self.size, at
        self.size *= 2
        self.slots = <int64_t*>malloc(self.size * sizeof(int64_t))
        if self.slots == NULL:
            self.slots, self.size = old, old_size
            raise MemoryError()
        memset(self.slots, 0xff, self.size * sizeof(int64_t))
        for at in range(old_size):
            if old[at] != -1:
                self.slots[self._slot(old[at])] = old[at]
        free(old)
        return 0


cdef struct _Text:
    Py_UCS4* text  # code points, grown as needed
    Py_ssize_t room


cdef Py_ssize_t _put(_Text* out, object name, Py_ssize_t at, dict folds, bint fold) except -1:
    """Write ``name`` (None: nothing), folded as _fold_name folds it when
    ``fold``, into ``out`` from ``at``, with room for one more code point
    after it: where it ends."""
    cdef Py_ssize_t size, n
    if not name:
        _grow(out, at + 1)
        return at
    cdef Py_UCS4 c
    if fold and _ascii_text(name):  # lower case: one code point for one
        size = PyUnicode_GET_LENGTH(name)
        _grow(out, at + size + 1)
        data = <const char*>PyUnicode_DATA(name)
        for n in range(size):
            out.text[at + n] = <Py_UCS4>_lower(data[n])
        return at + size
    if fold:
        name = _memo(folds, name, _fold_name)
    size = PyUnicode_GET_LENGTH(name)
    _grow(out, at + size + 1)
    cdef int kind = PyUnicode_KIND(name)
    cdef const void* points = PyUnicode_DATA(name)
    for n in range(size):
        out.text[at + n] = PyUnicode_READ(kind, points, n)
    return at + size


cdef Py_ssize_t _grow(_Text* out, Py_ssize_t size) except -1:
    """Room for ``size`` code points in ``out``: ``size`` back."""
    cdef Py_UCS4* grown
    if size > out.room:
        grown = <Py_UCS4*>realloc(out.text, (size + 64) * sizeof(Py_UCS4))
        if grown == NULL:
            raise MemoryError()
        out.text, out.room = grown, size + 64
    return size


cdef Py_ssize_t _folded_length(object name, dict folds) except -1:
    """len(_fold_name(name)): plain ASCII keeps its length when folded."""
    if not name:
        return 0
    if _ascii_text(name):
        return PyUnicode_GET_LENGTH(name)
    return len(_memo(folds, name, _fold_name))


_PLACE_COLUMNS = ("city", "postal_code", "street", "key_company", "key_domain")
# House numbers of up to 17 digits are coded by their digits: number * 32 +
# digit count (so "012" is not "12"), below this; other places from here up.
cdef int64_t _TABLE_CODES = 1 << 62
cdef int64_t _ASCII_CODES = 3 << 61  # plain ASCII places (_PlaceCodes), above the others


cdef int64_t _house_code(object street):
    """A plain ASCII street's house number (its first digits) as a code, -2
    when it has none; -1 when it can't be coded so (not ASCII, too long)."""
    if not _ascii_text(street):
        return -1
    cdef Py_ssize_t size = PyUnicode_GET_LENGTH(street), at = 0, digits = 0
    cdef const char* data = <const char*>PyUnicode_DATA(street)
    cdef int64_t number = 0
    while at < size and not _digit(data[at]):
        at += 1
    if at == size:
        return -2
    while at < size and _digit(data[at]):
        if digits == 17:
            return -1
        number = number * 10 + (data[at] - 48)
        digits += 1
        at += 1
    return number * 32 + digits


cdef class _PlaceCodes:
    """Codes of plain ASCII places by their bytes (in lower case when
    ``fold``): equal places, equal codes, from _ASCII_CODES up."""

    cdef bint fold
    cdef Py_ssize_t slots, used
    cdef uint64_t* hashes
    cdef PyObject** texts  # a place of each code, held by ``held``
    cdef int64_t* codes
    cdef list held

    def __cinit__(self, bint fold):
        self.fold, self.slots, self.used, self.held = fold, 1024, 0, []
        self.hashes = <uint64_t*>malloc(self.slots * sizeof(uint64_t))
        self.texts = <PyObject**>calloc(self.slots, sizeof(PyObject*))
        self.codes = <int64_t*>malloc(self.slots * sizeof(int64_t))
        if self.hashes == NULL or self.texts == NULL or self.codes == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.hashes)
        free(self.texts)
        free(self.codes)

    cdef int64_t code(self, object text) except -1:
        cdef Py_ssize_t size = PyUnicode_GET_LENGTH(text), at, slot
        cdef const char* data = <const char*>PyUnicode_DATA(text)
        cdef uint64_t hashed = 14695981039346656037ULL ^ <uint64_t>size
        for at in range(size):
            hashed = (hashed ^ <unsigned char>(_lower(data[at]) if self.fold else data[at])) * 1099511628211ULL
        slot = <Py_ssize_t>(hashed >> 20) & (self.slots - 1)
        while self.texts[slot] != NULL:
            if self.hashes[slot] == hashed and self._same(<object>self.texts[slot], data, size):
                return self.codes[slot]
            slot = (slot + 1) & (self.slots - 1)
        self.held.append(text)
        self.texts[slot], self.hashes[slot], self.codes[slot] = <PyObject*>text, hashed, _ASCII_CODES + self.used
        self.used += 1
        if self.used * 2 > self.slots:
            self._grow()
        return _ASCII_CODES + self.used - 1

    cdef bint _same(self, object text, const char* data, Py_ssize_t size):
        if PyUnicode_GET_LENGTH(text) != size:
            return False
        cdef const char* other = <const char*>PyUnicode_DATA(text)
        cdef Py_ssize_t at
        if not self.fold:
            return memcmp(other, data, size) == 0
        for at in range(size):
            if _lower(other[at]) != _lower(data[at]):
                return False
        return True

    cdef int _grow(self) except -1:
        cdef Py_ssize_t old_slots = self.slots, at, slot
        cdef uint64_t* old_hashes = self.hashes
        cdef PyObject** old_texts = self.texts
        cdef int64_t* old_codes = self.codes
        self.slots *= 2
        self.hashes = <uint64_t*>malloc(self.slots * sizeof(uint64_t))
        self.texts = <PyObject**>calloc(self.slots, sizeof(PyObject*))
        self.codes = <int64_t*>malloc(self.slots * sizeof(int64_t))
        if self.hashes == NULL or self.texts == NULL or self.codes == NULL:
            raise MemoryError()
        for at in range(old_slots):
            if old_texts[at] != NULL:
                slot = <Py_ssize_t>(old_hashes[at] >> 20) & (self.slots - 1)
                while self.texts[slot] != NULL:
                    slot = (slot + 1) & (self.slots - 1)
                self.texts[slot], self.hashes[slot] = old_texts[at], old_hashes[at]
                self.codes[slot] = old_codes[at]
        free(old_hashes)
        free(old_texts)
        free(old_codes)
        return 0


# --- ordering leads as the database orders them ------------------------------------

cdef int _compare_text(object a, object b) except? -2:
    """None first, then text by code point (SQLite's BINARY collation)."""
    if a is None:
        return 0 if b is None else -1
    if b is None:
        return 1
    cdef Py_ssize_t size_a, size_b
    cdef int found
    if _ascii_text(a) and _ascii_text(b):
        size_a, size_b = PyUnicode_GET_LENGTH(a), PyUnicode_GET_LENGTH(b)
        found = memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), min(size_a, size_b))
        if found:
            return found
        return (size_a > size_b) - (size_a < size_b)
    return PyUnicode_Compare(a, b)


cdef uint64_t _prefix(object text) except? 0:
    """A number of a text that keeps the database's order: 0 for None; else
    2 + its first 7 bytes of UTF-8 (big-endian, 0-padded; UTF-8's byte
    order is the code points' order) * 2 + 1 when the text may go on past
    them or pads with its own zero bytes (then equal numbers need the full
    comparison), + 0 when they are the whole text."""
    if text is None:
        return 0
    cdef Py_ssize_t size, at
    cdef const unsigned char* data
    cdef bint partial = not _ascii_text(text)
    if partial:
        data = <const unsigned char*>PyUnicode_AsUTF8AndSize(text, &size)
    else:
        data, size = <const unsigned char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)
    cdef uint64_t found = 0
    for at in range(7):
        if at < size:
            found = found * 256 + data[at]
            partial |= data[at] == 0
        else:
            found = found * 256
    return 2 + found * 2 + (1 if partial or size >= 7 else 0)


# A sort's test: whether item x goes before item y (what it compares is in
# ``context``). -1 with an exception set.
ctypedef int (*_Before)(Py_ssize_t x, Py_ssize_t y, void* context) except -1


cdef int _stable_sort(
    Py_ssize_t* items, Py_ssize_t* spare, Py_ssize_t count, _Before before, void* context
) except -1:
    """Sort ``count`` items, stable (equal items keep their order), by
    bottom-up merges through ``spare`` (as many again)."""
    cdef Py_ssize_t width = 1, low, middle, high, left, right, out
    cdef Py_ssize_t* swap
    cdef Py_ssize_t* start = items
    while width < count:
        low = 0
        while low < count:
            middle, high = min(low + width, count), min(low + 2 * width, count)
            left, right, out = low, middle, low
            while left < middle and right < high:
                if before(items[right], items[left], context):
                    spare[out] = items[right]
                    right += 1
                else:
                    spare[out] = items[left]
                    left += 1
                out += 1
            while left < middle:
                spare[out] = items[left]
                left += 1
                out += 1
            while right < high:
                spare[out] = items[right]
                right += 1
                out += 1
            low = high
        swap = items
        items = spare
        spare = swap
        width *= 2
    if items != start:
        memcpy(start, items, count * sizeof(Py_ssize_t))
    return 0


cdef struct _NameOrder:
    PyObject* major  # lists of the leads' values (borrowed)
    PyObject* minor
    uint64_t* keys  # each lead's _prefix of its major and of its minor value


cdef int _name_before(Py_ssize_t x, Py_ssize_t y, void* context) except -1:
    """Whether lead x comes before lead y by (major, minor)."""
    cdef _NameOrder* order = <_NameOrder*>context
    cdef uint64_t kx = order.keys[2 * x], ky = order.keys[2 * y]
    cdef int found = 0
    if kx != ky:
        found = -1 if kx < ky else 1
    elif kx & 1:
        found = _compare_text((<list>order.major)[x], (<list>order.major)[y])
    if found == 0:
        kx, ky = order.keys[2 * x + 1], order.keys[2 * y + 1]
        if kx != ky:
            found = -1 if kx < ky else 1
        elif kx & 1:
            found = _compare_text((<list>order.minor)[x], (<list>order.minor)[y])
    return found < 0


cdef int _sort_by_name(
    Py_ssize_t* items, Py_ssize_t* spare, Py_ssize_t count, list major, list minor
) except -1:
    """Sort lead positions by (major, minor), NULL first then by code
    point, stable: 7-byte prefixes compared first, the text on a tie."""
    cdef uint64_t* keys = <uint64_t*>malloc((2 * count + 1) * sizeof(uint64_t))
    if keys == NULL:
        raise MemoryError()
    cdef _NameOrder order
    order.major, order.minor, order.keys = <PyObject*>major, <PyObject*>minor, keys
    cdef Py_ssize_t n
    try:
        for n in range(count):
            keys[2 * n], keys[2 * n + 1] = _prefix(major[n]), _prefix(minor[n])
        _stable_sort(items, spare, count, _name_before, &order)
    finally:
        free(keys)
    return 0


# --- blocks of leads sharing a key --------------------------------------------------

cdef class _Blocks:
    """Leads grouped by an equal key: a hash table of keys (Python objects,
    held by the caller) to their block's first lead, and each lead linked
    to the next of its block; a block's size at its first lead."""

    cdef Py_ssize_t count, slots, used
    cdef Py_ssize_t* next
    cdef Py_ssize_t* last
    cdef Py_ssize_t* size
    cdef PyObject** keys
    cdef Py_hash_t* hashes
    cdef Py_ssize_t* heads

    def __cinit__(self, Py_ssize_t count):
        self.count, self.used, self.slots = count, 0, 16
        while self.slots < 2 * count + 2:
            self.slots *= 2
        self.next = <Py_ssize_t*>malloc((3 * count + 1) * sizeof(Py_ssize_t))
        self.keys = <PyObject**>calloc(self.slots, sizeof(PyObject*))
        self.hashes = <Py_hash_t*>malloc(self.slots * sizeof(Py_hash_t))
        self.heads = <Py_ssize_t*>malloc(self.slots * sizeof(Py_ssize_t))
        if self.next == NULL or self.keys == NULL or self.hashes == NULL or self.heads == NULL:
            raise MemoryError()
        self.last, self.size = self.next + count, self.next + 2 * count
        cdef Py_ssize_t n
        for n in range(count):
            self.next[n], self.last[n], self.size[n] = -1, n, 0

    def __dealloc__(self):
        free(self.next)
        free(self.keys)
        free(self.hashes)
        free(self.heads)

    cdef int add(self, object key, Py_ssize_t lead) except -1:
        cdef Py_hash_t hashed = hash(key)
        cdef Py_ssize_t slot = <Py_ssize_t>(<uint64_t>hashed * 0x9E3779B97F4A7C15ULL >> 17) & (self.slots - 1)
        cdef PyObject* there
        cdef Py_ssize_t head
        while True:
            there = self.keys[slot]
            if there == NULL:
                self.keys[slot], self.hashes[slot], self.heads[slot] = <PyObject*>key, hashed, lead
                self.size[lead] = 1
                return 0
            if self.hashes[slot] == hashed and (
                there == <PyObject*>key or PyObject_RichCompareBool(<object>there, key, Py_EQ)
            ):
                head = self.heads[slot]
                self.next[self.last[head]] = lead
                self.last[head] = lead
                self.size[head] += 1
                return 0
            slot = (slot + 1) & (self.slots - 1)

    cdef list members(self, Py_ssize_t head):
        cdef list found = []
        while head >= 0:
            found.append(head)
            head = self.next[head]
        return found


# --- the scan ----------------------------------------------------------------------

cdef class _Scan:
    """One in-memory scan: ``scan._Memory``'s passes and its batch scoring."""

    cdef Py_ssize_t count
    cdef list rows, ids, columns
    cdef object layout
    cdef list email, linkedin, record, first, last, phone, company, domain
    cdef list street, house, line2, city, postcode, state, country
    cdef int* first_initial
    cdef int* last_initial
    cdef _Codes seen
    cdef list pending  # codes i * count + j, in the order found
    cdef double w_name, w_company, w_domain, w_street, w_line2
    cdef double w_city, w_postcode, w_state, w_country, w_phone
    cdef bint exact_email, exact_linkedin, exact_record, exact_phone
    cdef double low, high, min_weight
    cdef Py_ssize_t max_block, window
    cdef dict exact_verdicts, nicknames
    cdef tuple same, different, written
    cdef object verdict

    def __cinit__(self):
        self.first_initial = self.last_initial = NULL

    def __init__(self, list rows, object layout, object rules, tuple feature_at):
        self.rows, self.layout = rows, layout
        self.count = len(rows)
        self.ids = [row[0] for row in rows]
        none_at = layout[next(iter(layout.absent))] if layout.absent else -1
        self.columns = features(rows, feature_at, none_at)
        (
            self.email, self.linkedin, self.record, self.first, self.last, self.phone,
            self.company, self.domain, self.street, self.house, self.line2, self.city,
            self.postcode, self.state, self.country,
        ) = self.columns
        self.seen = _Codes()
        self.pending = []
        self._initials()
        weights = rules.weights
        self.w_name, self.w_company, self.w_domain, self.w_street, self.w_line2 = (
            float(weights.get(f, 0.0)) for f in ("name", "company", "domain", "street", "address_line2")
        )
        self.w_city, self.w_postcode, self.w_state, self.w_country, self.w_phone = (
            float(weights.get(f, 0.0)) for f in ("city", "postal_code", "state", "country", "phone")
        )
        self.exact_email, self.exact_linkedin, self.exact_record, self.exact_phone = (
            key in rules.exact for key in ("email", "linkedin_url", "provider_record", "phone")
        )
        self.low, self.high, self.min_weight = rules.low, rules.high, rules.min_weight
        self.max_block, self.window = rules.max_block, rules.window
        self.verdict = _score.Verdict
        self.exact_verdicts = {
            reason: _score.Verdict(1.0, (reason,), "merge") for reason in _score.EXACT_REASONS.values()
        }
        self.same = tuple(_score._reason(field, 1.0) for field in _COUNTED)
        self.different = tuple(_score._reason(field, 0.0) for field in _COUNTED)
        self.written = tuple([None] * 101 for _ in _COUNTED)
        self.nicknames = _keys.NICKNAMES

    def __dealloc__(self):
        free(self.first_initial)
        free(self.last_initial)

    cdef int _initials(self) except -1:
        """Each lead's first and last name's first letter (its code point), -1 for none."""
        self.first_initial = <int*>malloc((self.count + 1) * sizeof(int))
        self.last_initial = <int*>malloc((self.count + 1) * sizeof(int))
        if self.first_initial == NULL or self.last_initial == NULL:
            raise MemoryError()
        cdef Py_ssize_t n
        for n in range(self.count):
            first, last = self.first[n], self.last[n]
            self.first_initial[n] = PyUnicode_READ_CHAR(first, 0) if first else -1
            self.last_initial[n] = PyUnicode_READ_CHAR(last, 0) if last else -1
        return 0

    cdef inline bint initials_meet(self, Py_ssize_t a, Py_ssize_t b):
        """``score.initials_meet`` of two leads."""
        cdef int fa = self.first_initial[a], la = self.last_initial[a]
        cdef int fb = self.first_initial[b], lb = self.last_initial[b]
        if (fa < 0 and la < 0) or (fb < 0 and lb < 0):
            return True
        return (fb >= 0 and (fb == fa or fb == la)) or (lb >= 0 and (lb == fa or lb == la))

    # --- key passes -----------------------------------------------------------------

    def key_pass(self, tuple columns, bint names_alike):
        """``_Memory.key_pass``: the leads sharing the key, block by block
        (blocks in the order their keys first appear, a block's leads in
        the order read), each lead linked to the next of its block."""
        layout = self.layout
        if not layout.absent.isdisjoint(columns):
            return
        cdef Py_ssize_t count = self.count, n, i, j, size, head, member, other_member
        cdef list rows = self.rows
        cdef tuple row
        cdef Py_ssize_t at = layout[columns[0]], other = -1
        if len(columns) == 2:
            other = layout[columns[1]]
        elif len(columns) != 1:  # pragma: no cover - PASSES has keys of one or two columns
            raise ValueError("a key of one or two columns")
        cdef _Blocks blocks = _Blocks(count)
        cdef list held = []  # the two-column keys made, kept alive while hashed
        for n in range(count):
            row = rows[n]
            key = row[at]
            if key is None:
                continue
            if other >= 0:
                second = row[other]
                if second is None:
                    continue
                key = (key, second)
                held.append(key)
            blocks.add(key, n)
        cdef _Codes seen = self.seen
        cdef list fresh = []
        cdef int64_t code
        cdef list windowed = []
        for head in range(count):
            size = blocks.size[head]
            if size < 2:  # not a block's first lead, or a block of one
                continue
            if size > self.max_block:
                windowed.append(blocks.members(head))
                continue
            member = head
            while member >= 0:
                i = member
                other_member = blocks.next[member]
                while other_member >= 0:
                    j = other_member
                    code = i * count + j
                    if seen.add(code) and (names_alike or self.initials_meet(i, j)):
                        fresh.append(code)
                    other_member = blocks.next[other_member]
                member = blocks.next[member]
        self.pending.extend(fresh)
        for block in windowed:
            self.key_window(block, names_alike)

    cdef key_window(self, list block, bint names_alike):
        """``_Memory.key_window``: each lead against the ``window`` after it in name order."""
        first, last = self.first, self.last
        names = {at: (last[at] or "", first[at] or "") for at in block}
        cdef list order = sorted(block, key=names.__getitem__)
        cdef Py_ssize_t size = len(order), n, m, i, j, count = self.count
        cdef int64_t code
        for n in range(size):
            i = order[n]
            for m in range(n + 1, min(size, n + 1 + self.window)):
                j = order[m]
                code = i * count + j if i < j else j * count + i
                if self.seen.has(code):
                    continue
                if not names_alike and not self.initials_meet(i, j):
                    continue
                self.seen.add(code)
                self.pending.append(i * count + j)

    # --- the name neighbourhood -----------------------------------------------------

    def neighbour_pairs(self, tuple orders, Py_ssize_t window, double alike):
        """``_Memory.neighbour_pairs`` of each order; the pairs no key pass
        settled, in code order, become pending."""
        layout, rows = self.layout, self.rows
        cdef Py_ssize_t count = self.count, n, back, k, at, other, kind, size
        cdef tuple row
        cdef Py_ssize_t first_at = layout["first_name"], last_at = layout["last_name"]
        cdef Py_ssize_t full_at = layout["full_name"]
        cdef dict folds = {}
        cdef list firsts = [None] * count, lasts = [None] * count
        cdef list nameless = [None] * count  # the folded full name of a lead without a first or last
        cdef int64_t* codes = <int64_t*>malloc((5 * count + 1) * sizeof(int64_t))
        cdef Py_ssize_t* ranked = <Py_ssize_t*>malloc((3 * count + 1) * sizeof(Py_ssize_t))
        cdef char* named = <char*>malloc(count + 1)
        if codes == NULL or ranked == NULL or named == NULL:
            free(codes)
            free(ranked)
            free(named)
            raise MemoryError()
        cdef set wanted = set()
        cdef bint near
        cdef int64_t code
        cdef _Text name_a, name_b
        name_a.text = name_b.text = NULL
        name_a.room = name_b.room = 0
        cdef Py_ssize_t size_a, size_b
        try:
            for n in range(count):
                row = rows[n]
                first, last = row[first_at], row[last_at]
                firsts[n], lasts[n] = first, last  # folded when a name is compared
                # Long enough to compare: 3 characters, the space between included.
                named[n] = _folded_length(first, folds) + _folded_length(last, folds) + 1 >= 3
                if not first and not last:
                    full = row[full_at]
                    if full:
                        nameless[n] = folded_full = _fold_name(full)
                        named[n] = len(folded_full) >= 3
            self._places(folds, codes)
            for order in orders:
                last_first = order[0] == "last_name"
                self.ranked(order, ranked)
                size = 0
                for k in range(count):
                    if named[ranked[k]]:
                        ranked[size] = ranked[k]
                        size += 1
                for back in range(1, window + 1):
                    for k in range(back, size):
                        at, other = ranked[k], ranked[k - back]
                        near = False
                        for kind in range(5):
                            if codes[kind * count + at] == codes[kind * count + other]:
                                near = True
                                break
                        if not near:
                            continue
                        size_a = self._name(at, firsts, lasts, nameless, last_first, folds, &name_a)
                        size_b = self._name(other, firsts, lasts, nameless, last_first, folds, &name_b)
                        if _jaro_winkler(4, name_a.text, size_a, 4, name_b.text, size_b) < alike:
                            continue
                        code = at * count + other if at < other else other * count + at
                        if not self.seen.has(code):
                            wanted.add(code)
        finally:
            free(codes)
            free(ranked)
            free(named)
            free(name_a.text)
            free(name_b.text)
        self.pending.extend(sorted(wanted))

    cdef Py_ssize_t _name(
        self, Py_ssize_t at, list firsts, list lasts, list nameless, bint last_first,
        dict folds, _Text* out,
    ) except -1:
        """A lead's name as the neighbourhood compares it
        (``scan._neighbour_name``: its first and last name folded, one
        space between, or its full name folded) into ``out``: its length."""
        full = nameless[at]
        if full is not None:
            return _put(out, full, 0, folds, False)
        first, last = firsts[at], lasts[at]
        if last_first:
            first, last = last, first
        cdef Py_ssize_t made = _put(out, first, 0, folds, True)
        out.text[made] = 0x20
        return _put(out, last, made + 1, folds, True)

    cdef int _places(self, dict folds, int64_t* codes) except -1:
        """Each lead's place codes into ``codes``, ``count`` a kind: city
        (folded), postcode, house number, company key, domain; equal places,
        equal codes (0 up), a place missing a code of its own (below 0).
        Plain ASCII places are coded by their bytes (a city by its letters
        in lower case, as _fold_name folds it); other text once folded."""
        layout, rows = self.layout, self.rows
        cdef Py_ssize_t count = self.count, n, kind, at
        cdef int64_t* kind_codes
        cdef int64_t number
        cdef tuple row
        cdef dict table  # a place that is not plain ASCII -> its code
        cdef _PlaceCodes ascii
        for kind in range(5):
            kind_codes = codes + kind * count
            name = _PLACE_COLUMNS[kind]
            if name in layout.absent:  # no lead has it
                for n in range(count):
                    kind_codes[n] = -1 - n
                continue
            at = layout[name]
            table, ascii = {}, _PlaceCodes(kind == 0)
            for n in range(count):
                row = rows[n]
                value = row[at]
                if not value:
                    kind_codes[n] = -1 - n
                    continue
                if kind == 2:
                    number = _house_code(value)
                    if number != -1:  # -2: no number, a place missing
                        kind_codes[n] = number if number != -2 else -1 - n
                        continue
                    value = _first_number(value)
                    if not value:
                        kind_codes[n] = -1 - n
                        continue
                    number = _house_code(value) if _ascii_text(value) else -1
                    if number >= 0:  # ASCII digits: coded as a plain street's are
                        kind_codes[n] = number
                        continue
                elif _ascii_text(value):
                    kind_codes[n] = ascii.code(value)
                    continue
                elif kind == 0:
                    value = _memo(folds, value, _fold_name)
                    if not value:
                        kind_codes[n] = -1 - n
                        continue
                if _ascii_text(value):  # folded to plain ASCII
                    kind_codes[n] = ascii.code(value)
                    continue
                found = table.get(value)
                if found is None:
                    # below the plain places' codes, above every house number's
                    found = table[value] = _TABLE_CODES + len(table)
                kind_codes[n] = found
        return 0

    cdef void ranked(self, tuple order, Py_ssize_t* ranked):
        """``_Memory.ranked`` into ``ranked`` (``count`` positions, with as
        many again of room to sort in): the leads' positions in the
        database's order (NULL first, then by code point; ties in the order
        read), a merge sort on the two columns without a key per lead."""
        layout, rows = self.layout, self.rows
        cdef Py_ssize_t major_at, minor_at
        if order[0] == "last_name":
            major_at, minor_at = layout["last_name"], layout["first_name"]
        else:
            major_at, minor_at = layout["sort_name"], 0
        cdef list major = [row[major_at] for row in rows]
        cdef list minor = [row[minor_at] for row in rows]
        cdef Py_ssize_t n
        for n in range(self.count):
            ranked[n] = n
        _sort_by_name(ranked, ranked + self.count, self.count, major, minor)

    # --- scoring --------------------------------------------------------------------

    def score_pending(self, set dismissed, object link):
        """Score the pending pairs: (links at or above ``rules.low``, pairs compared)."""
        cdef list links = [], ids = self.ids
        cdef Py_ssize_t count = self.count, i, j, compared = 0
        cdef int64_t code
        for code in self.pending:
            i, j = code // count, code % count
            a, b = ids[i], ids[j]
            if dismissed and ((a, b) if a < b else (b, a)) in dismissed:
                continue
            compared += 1
            verdict = self.compare(i, j)
            if verdict is not None:
                # link(a, b, verdict): a NamedTuple's __new__, without its Python call
                links.append(_tuple_new(link, (a, b, verdict) if a < b else (b, a, verdict)))
        return links, compared

    cdef object features_at(self, Py_ssize_t at):
        return _score.Features(*(column[at] for column in self.columns))

    cdef double first_sim(self, str a, str b) except -1.0:
        """``score._first_sim``."""
        nick = self.nicknames
        if a == b or nick.get(a, a) == nick.get(b, b):
            return 1.0
        if len(a) == 1 or len(b) == 1:
            return 0.8 if a[0] == b[0] else 0.0
        cdef double sim = jaro_winkler(a, b)
        return max(0.0, (sim - 0.7) / 0.3)

    cdef double jw(self, str a, str b) except -1.0:
        """``score._jw``: Jaro-Winkler, squared."""
        if a == b:
            return 1.0
        cdef double sim = jaro_winkler(a, b)
        return sim * sim

    cdef double name_pair(self, str first_a, str last_a, str first_b, str last_b) except -1.0:
        """``score._name_pair``."""
        cdef double last
        if last_a and last_b:
            last = self.jw(last_a, last_b)
            if first_a and first_b:
                return (self.first_sim(first_a, first_b) + last) / 2
            return 0.9 * last
        if first_a and first_b:
            return 0.8 * self.first_sim(first_a, first_b)
        return 0.0

    cdef double text_sim(self, str a, str b) except -1.0:
        return 1.0 if a == b else sort_ratio(a, b) / 100

    cdef double postcode_sim(self, str a, str b) except -1.0:
        """``score._postcode_sim``, compiled: the scan's hot path calls it
        for most pairs (a call into Python per pair cost ~4% of FEBRL 1's scan)."""
        if a == b:
            return 1.0
        cdef Py_ssize_t size = len(a), at, first = -1
        if size != len(b):
            return 0.0
        for at in range(size):
            x, y = a[at], b[at]
            if x == y:
                continue
            if first < 0:
                first = at
            elif at == first + 1 and a[first] == y and b[first] == x and a[at + 1 :] == b[at + 1 :]:
                return 0.7
            else:
                return 0.0
        return 0.5

    cdef object reason(self, int field, double similarity):
        """``score._reason`` of a counted field: "same ...", "different ..."
        and each "label 0.NN" made once (the text depends on the two
        decimals alone, worked out here without formatting)."""
        if similarity >= 1.0:
            return self.same[field]
        if similarity <= 0.0 or _EXACT_FIELD[field]:
            return self.different[field]
        cdef long hundredths = _rounded(similarity, 100.0)
        if hundredths < 0:  # too near a tie to tell here: format it
            return _score._reason(_COUNTED[field], similarity)
        table = <list>self.written[field]
        found = table[hundredths]
        if found is None:
            # f"{label} {similarity:.2f}": the two decimals are the hundredths
            found = table[hundredths] = (
                f"{_LABELS[field]} {hundredths // 100}.{_TWO_DIGITS[hundredths % 100]}"
            )
        return found

    cdef object compare(self, Py_ssize_t i, Py_ssize_t j):
        """``score.scorer(rules)`` of leads i and j: the same verdict, the
        same float operations in the same order."""
        cdef str a_email = self.email[i], b_email = self.email[j]
        cdef str a_linkedin = self.linkedin[i], b_linkedin = self.linkedin[j]
        cdef str a_phone = self.phone[i], b_phone = self.phone[j]
        if a_email and a_email == b_email and self.exact_email:
            return self.exact_verdicts[_score.EXACT_REASONS["email"]]
        if a_linkedin and a_linkedin == b_linkedin and self.exact_linkedin:
            return self.exact_verdicts[_score.EXACT_REASONS["linkedin_url"]]
        a_record = self.record[i]
        if a_record and a_record == self.record[j] and self.exact_record:
            return self.exact_verdicts[_score.EXACT_REASONS["provider_record"]]
        if a_phone and a_phone == b_phone and self.exact_phone:
            exact = _score._exact(self.features_at(i), self.features_at(j), ("phone",))
            if exact:
                return self.exact_verdicts[exact]
        cdef str a_first = self.first[i], a_last = self.last[i]
        cdef str b_first = self.first[j], b_last = self.last[j]
        cdef str a_company = self.company[i], b_company = self.company[j]
        cdef str a_domain = self.domain[i], b_domain = self.domain[j]
        cdef double similarity = 0.0, weight, last, first
        cdef double words = 0.0, house
        cdef double street = -1.0, line2 = -1.0, swapped  # -1: not counted
        cdef bint has_employer = False
        cdef double employer_weight = 0.0, employer_sim = 0.0
        cdef _Tally tally  # the fields counted and their similarities, the sums
        tally.counted, tally.total, tally.weighed = 0, 0.0, 0.0
        cdef int at
        if self.w_name and (a_first or a_last) and (b_first or b_last):
            if a_last and b_last:
                if a_last == b_last:
                    last = 1.0
                else:
                    last = jaro_winkler(a_last, b_last)
                    last = last * last
                if a_first and b_first:
                    first = 1.0 if a_first == b_first else self.first_sim(a_first, b_first)
                    similarity = (first + last) / 2
                else:
                    similarity = 0.9 * last
            elif a_first and b_first:
                similarity = 0.8 * (1.0 if a_first == b_first else self.first_sim(a_first, b_first))
            else:
                similarity = 0.0
            if similarity < 0.9:
                similarity = max(similarity, self.name_pair(a_first, a_last, b_last, b_first))
            _tally(&tally, C_NAME, similarity, self.w_name)
        if self.w_company and a_company and b_company:
            similarity = self.text_sim(a_company, b_company)
            _tally(&tally, C_COMPANY, similarity, self.w_company)
            has_employer, employer_weight, employer_sim = True, self.w_company, similarity
        if self.w_domain and a_domain and b_domain:
            similarity = 1.0 if a_domain == b_domain else 0.0
            _note(&tally, C_DOMAIN, similarity)
            weight = self.w_domain
            if has_employer:
                # Company name and domain both say who employs the lead: the
                # better of the two counts, once.
                tally.total -= employer_weight * employer_sim
                tally.weighed -= employer_weight
                if employer_sim >= similarity:  # max(..., key=similarity): the first on a tie
                    weight, similarity = employer_weight, employer_sim
            has_employer, employer_weight, employer_sim = True, weight, similarity
            _weigh(&tally, weight, similarity)
        cdef str a_street = self.street[i], b_street = self.street[j]
        cdef str a_house = self.house[i], b_house = self.house[j]
        cdef str a_line2 = self.line2[i], b_line2 = self.line2[j]
        cdef bint has_words
        if self.w_street and ((a_street and b_street) or (a_house and b_house)):
            has_words = True if (a_street and b_street) else False
            if has_words:
                words = 1.0 if a_street == b_street else sort_ratio(a_street, b_street) / 100
            if a_house and b_house:
                house = 1.0 if a_house == b_house else 0.0
                street = 0.4 * house + 0.6 * words if has_words else house
            else:
                street = words if has_words else 0.0
        if self.w_line2 and a_line2 and b_line2:
            line2 = 1.0 if a_line2 == b_line2 else sort_ratio(a_line2, b_line2) / 100
        if (a_line2 or b_line2) and ((street != -1.0 and street < 1.0) or (line2 != -1.0 and line2 < 1.0)):
            swapped = 0.0  # score._swapped_lines
            if a_street and b_line2:
                swapped = self.text_sim(a_street, b_line2)
            if a_line2 and b_street:
                swapped = max(swapped, self.text_sim(a_line2, b_street))
            if street != -1.0 and swapped > street:
                street = swapped
            if line2 != -1.0 and swapped > line2:
                line2 = swapped
        if street != -1.0:
            _tally(&tally, C_STREET, street, self.w_street)
        if line2 != -1.0:
            _tally(&tally, C_LINE2, line2, self.w_line2)
        cdef str a_value, b_value
        if self.w_city:
            a_value, b_value = self.city[i], self.city[j]
            if a_value and b_value:
                similarity = self.jw(a_value, b_value)
                _tally(&tally, C_CITY, similarity, self.w_city)
        if self.w_postcode:
            a_value, b_value = self.postcode[i], self.postcode[j]
            if a_value and b_value:
                similarity = self.postcode_sim(a_value, b_value)
                _tally(&tally, C_POSTCODE, similarity, self.w_postcode)
        if self.w_state:
            a_value, b_value = self.state[i], self.state[j]
            if a_value and b_value:
                similarity = 1.0 if a_value == b_value else 0.0
                _tally(&tally, C_STATE, similarity, self.w_state)
        if self.w_country:
            a_value, b_value = self.country[i], self.country[j]
            if a_value and b_value:
                similarity = 1.0 if a_value == b_value else 0.0
                _tally(&tally, C_COUNTRY, similarity, self.w_country)
        if self.w_phone and a_phone and b_phone:
            similarity = 1.0 if a_phone == b_phone else 0.0
            _tally(&tally, C_PHONE, similarity, self.w_phone)
        cdef double weighed = tally.weighed
        cdef double ratio = tally.total / (weighed if weighed > self.min_weight else self.min_weight)
        if ratio < self.low - 0.001:  # round(ratio, 4) < low: no need to round
            return None
        cdef long units = _rounded(ratio, 10000.0)
        # round(ratio, 4): the nearest double to units / 10^4, as Python's
        # round gives it (a division of two exact integers, rounded once)
        score = units / 10000.0 if units >= 0 else _round(ratio, 4)
        if score < self.low:
            return None
        differ = None
        if (a_email and b_email and a_email != b_email) or (
            a_linkedin and b_linkedin and a_linkedin != b_linkedin
        ):
            differ = _score._identities_differ(self.features_at(i), self.features_at(j))
            pairs = [(_COUNTED[tally.fields[at]], tally.sims[at]) for at in range(tally.counted)]
            if _score._other_people(
                pairs, (employer_weight, employer_sim) if has_employer else None
            ):
                return None
        if differ is None and score >= self.high and has_employer:
            if _score._first_names_differ(self.features_at(i), self.features_at(j)):
                differ = "different first names"
        cdef tuple reasons = PyTuple_New(tally.counted + (1 if differ else 0))
        for at in range(tally.counted):
            reason = self.reason(tally.fields[at], tally.sims[at])
            Py_INCREF(reason)
            PyTuple_SET_ITEM(reasons, at, reason)
        if differ:
            Py_INCREF(differ)
            PyTuple_SET_ITEM(reasons, tally.counted, differ)
        action = _MERGE if score >= self.high and not differ else _REVIEW
        return _frozen(self.verdict, _VERDICT_FIELDS, (score, reasons, action))


cdef struct _Tally:
    int fields[10]  # the fields counted (C_* numbers), in order
    double sims[10]  # and their similarities
    int counted
    double total  # the weighed similarities' sum
    double weighed  # the weights' sum


cdef inline void _note(_Tally* tally, int field, double similarity) noexcept:
    """A field counted, with its similarity (for the reasons)."""
    tally.fields[tally.counted] = field
    tally.sims[tally.counted] = similarity
    tally.counted += 1


cdef inline void _weigh(_Tally* tally, double weight, double similarity) noexcept:
    tally.total += weight * similarity
    tally.weighed += weight


cdef inline void _tally(_Tally* tally, int field, double similarity, double weight) noexcept:
    """A field counted and weighed into the score."""
    _note(tally, field, similarity)
    _weigh(tally, weight, similarity)


# The fields a score counts, as compare numbers them.
_COUNTED = (
    *("name", "company", "domain", "street", "address_line2"),
    *("city", "postal_code", "state", "country", "phone"),
)
cdef int C_NAME = 0, C_COMPANY = 1, C_DOMAIN = 2, C_STREET = 3, C_LINE2 = 4
cdef int C_CITY = 5, C_POSTCODE = 6, C_STATE = 7, C_COUNTRY = 8, C_PHONE = 9
_MERGE, _REVIEW = "merge", "review"
# What score._reason calls each counted field; "00" to "99".
_LABELS = tuple(_score._LABELS.get(field, field) for field in _COUNTED)
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
# The counted fields only ever the same or different (no "0.NN").
cdef bint _EXACT_FIELD[10]
for _at, _field in enumerate(_COUNTED):
    _EXACT_FIELD[_at] = _field in _score._EXACT_FIELDS


cdef long _rounded(double value, double scale):
    """``value`` (0 to 1) in units of 1 / scale, rounded as Python rounds
    and formats (the exact binary value to the nearest, a tie to even): -1
    when the product is too near a half to tell from a double (the caller
    asks Python then). value * scale is within 1e-11 of the exact product."""
    cdef double product = value * scale
    cdef double below = floor(product)
    cdef double fraction = product - below
    if fabs(fraction - 0.5) < 1e-9:
        return -1
    return <long>(below + 1.0) if fraction > 0.5 else <long>below


def scan_links(
    list rows,
    object layout,
    object rules,
    set dismissed,
    tuple feature_at,
    tuple passes,
    frozenset name_keys,
    tuple orders,
    Py_ssize_t window,
    double alike,
    object link,
):
    """The links of an in-memory scan (``scan._links_in_memory``'s) and
    the number of pairs compared."""
    cdef _Scan scan = _Scan(rows, layout, rules, feature_at)
    for columns in passes:
        scan.key_pass(columns, columns[0] in name_keys)
    scan.neighbour_pairs(orders, window, alike)
    return scan.score_pending(dismissed, link)


# --- clusters ----------------------------------------------------------------------

cdef class _Forest:
    """``scan._Forest`` over lead numbers: union-find that refuses to join
    across a dismissed pair; each group's members a linked list."""

    cdef Py_ssize_t count
    cdef Py_ssize_t* parent
    cdef Py_ssize_t* size
    cdef Py_ssize_t* next  # the next member of the group, -1 at its end
    cdef Py_ssize_t* tail
    cdef dict apart  # lead number -> the numbers it was dismissed with

    def __cinit__(self, Py_ssize_t count, dict apart):
        self.count, self.apart = count, apart
        self.parent = <Py_ssize_t*>malloc((4 * count + 1) * sizeof(Py_ssize_t))
        if self.parent == NULL:
            raise MemoryError()
        self.size, self.next, self.tail = (
            self.parent + count, self.parent + 2 * count, self.parent + 3 * count
        )
        cdef Py_ssize_t n
        for n in range(count):
            self.parent[n], self.size[n], self.next[n], self.tail[n] = n, 1, -1, n

    def __dealloc__(self):
        free(self.parent)

    cdef inline Py_ssize_t find(self, Py_ssize_t at):
        cdef Py_ssize_t root = at, up
        while self.parent[root] != root:
            root = self.parent[root]
        while at != root:  # path compression
            up = self.parent[at]
            self.parent[at] = root
            at = up
        return root

    cdef Py_ssize_t join_roots(self, Py_ssize_t ra, Py_ssize_t rb):
        """Join two roots' groups: the new root, or -1 when kept apart."""
        cdef Py_ssize_t small, big, member
        if self.size[rb] < self.size[ra]:
            small, big = rb, ra
        else:
            small, big = ra, rb
        if self.apart:
            member = small
            while member >= 0:
                for other in self.apart.get(member, ()):
                    if self.find(other) == big:
                        return -1
                member = self.next[member]
        self.parent[small] = big
        self.size[big] += self.size[small]
        self.next[self.tail[big]] = small
        self.tail[big] = self.tail[small]
        return big


def build_clusters(list links, set dismissed, object cluster):
    """``scan.build_clusters``: clusters from links, strongest first, never
    joining two groups when a pair across them was dismissed."""
    cdef dict number = {}
    cdef list ids = []
    cdef Py_ssize_t k, size = len(links), side
    # Per link: its two leads' numbers, its score, whether it is a merge.
    cdef Py_ssize_t* ends = <Py_ssize_t*>malloc((4 * size + 1) * sizeof(Py_ssize_t))
    cdef double* scores = <double*>malloc((size + 1) * sizeof(double))
    cdef char* merges = <char*>malloc(size + 1)
    if ends == NULL or scores == NULL or merges == NULL:
        free(ends)
        free(scores)
        free(merges)
        raise MemoryError()
    cdef tuple link
    cdef Py_ssize_t* weakest = NULL
    cdef char* certain = NULL
    try:
        for k in range(size):
            link = <tuple>links[k]
            verdict = link[2]
            for side in range(2):
                lead = link[side]
                found = number.get(lead)
                if found is None:
                    found = number[lead] = len(ids)
                    ids.append(lead)
                ends[2 * k + side] = found
            scores[k] = verdict.score
            merges[k] = verdict.action == "merge"
        apart = {}
        for a, b in dismissed:
            if a in number and b in number:
                apart.setdefault(number[a], []).append(number[b])
                apart.setdefault(number[b], []).append(number[a])
        forest = _Forest(len(ids), apart)
        weakest = <Py_ssize_t*>malloc((len(ids) + 1) * sizeof(Py_ssize_t))
        certain = <char*>calloc(len(ids) + 1, 1)
        if weakest == NULL or certain == NULL:
            raise MemoryError()
        _weakest_links(forest, scores, merges, ends, size, weakest, certain)
        return _clusters(forest, weakest, certain, links, ids, cluster)
    finally:
        free(ends)
        free(scores)
        free(merges)
        free(weakest)
        free(certain)


cdef int _weakest_links(
    _Forest forest, double* scores, char* merges, Py_ssize_t* ends, Py_ssize_t size,
    Py_ssize_t* weakest, char* certain,
) except -1:
    """Join the merge links' groups, then the review links' between leads in
    no merge group, strongest first: ``weakest`` gets each group's weakest
    link at its root (-1 elsewhere), ``certain`` the leads in merge groups."""
    cdef Py_ssize_t* order = ends + 2 * size
    cdef Py_ssize_t k, ra, rb, root, member, held, at, other, side
    for k in range(forest.count):
        weakest[k] = -1
    for k in range(size):
        order[k] = k
    # Strongest first, links of one score in the order found (stable).
    _stable_sort(order, order + size, size, _higher_score, scores)
    for phase in range(2):  # merge links, then review links
        if phase == 1:
            for root in range(forest.count):
                if weakest[root] >= 0 and forest.find(root) == root:
                    member = root
                    while member >= 0:
                        certain[member] = 1
                        member = forest.next[member]
        for at in range(size):
            k = order[at]
            if merges[k] != (phase == 0):
                continue
            ra, rb = ends[2 * k], ends[2 * k + 1]
            if phase == 1 and (certain[ra] or certain[rb]):
                continue
            ra, rb = forest.find(ra), forest.find(rb)
            if ra == rb:
                continue
            root = forest.join_roots(ra, rb)
            if root < 0:
                continue
            held = k
            for side in range(2):
                other = weakest[ra] if side == 0 else weakest[rb]
                if other >= 0 and scores[other] < scores[held]:
                    held = other
            weakest[root] = held
    return 0


cdef int _higher_score(Py_ssize_t x, Py_ssize_t y, void* context) except -1:
    cdef double* scores = <double*>context
    return scores[x] > scores[y]


cdef list _clusters(
    _Forest forest, Py_ssize_t* weakest, char* certain, list links, list ids, object cluster
):
    """The clusters, by score, highest first, then by lead ids (no two
    clusters share a lead: their first lead ids tell them apart)."""
    cdef list groups = [], firsts = [], verdicts = [], actions = []
    cdef Py_ssize_t root, member, count, n, held
    for root in range(forest.count):
        held = weakest[root]
        if held < 0 or forest.find(root) != root:
            continue
        members = []
        member = root
        while member >= 0:
            members.append(ids[member])
            member = forest.next[member]
        members.sort()
        groups.append(tuple(members))
        firsts.append(members[0])
        verdicts.append((<tuple>links[held])[2])
        actions.append(_MERGE if certain[root] else _REVIEW)
    count = len(groups)
    cdef double* scores = <double*>malloc((count + 1) * sizeof(double))
    cdef Py_ssize_t* order = <Py_ssize_t*>malloc((2 * count + 1) * sizeof(Py_ssize_t))
    if scores == NULL or order == NULL:
        free(scores)
        free(order)
        raise MemoryError()
    cdef list clusters = []
    cdef _ClusterOrder by_score
    try:
        for n in range(count):
            scores[n] = verdicts[n].score
            order[n] = n
        by_score.scores, by_score.firsts = scores, <PyObject*>firsts
        _stable_sort(order, order + count, count, _cluster_before, &by_score)
        for n in range(count):
            member = order[n]
            verdict = verdicts[member]
            clusters.append(
                _frozen(
                    cluster,
                    _CLUSTER_FIELDS,
                    (groups[member], verdict.score, verdict.reasons, actions[member]),
                )
            )
    finally:
        free(scores)
        free(order)
    return clusters


cdef struct _ClusterOrder:
    double* scores
    PyObject* firsts  # each cluster's first lead id (borrowed list)


cdef int _cluster_before(Py_ssize_t x, Py_ssize_t y, void* context) except -1:
    """Higher score first, then the lower first lead id."""
    cdef _ClusterOrder* order = <_ClusterOrder*>context
    if order.scores[x] != order.scores[y]:
        return order.scores[x] > order.scores[y]
    return _compare_text((<list>order.firsts)[x], (<list>order.firsts)[y]) < 0


def order(list major, list minor):
    """Positions 0..n-1 in (major, minor) order, NULL first then by code
    point, ties as given: the scan's merge sort (for the tests)."""
    cdef Py_ssize_t count = len(major), n
    cdef Py_ssize_t* ranked = <Py_ssize_t*>malloc((2 * count + 1) * sizeof(Py_ssize_t))
    if ranked == NULL:
        raise MemoryError()
    try:
        for n in range(count):
            ranked[n] = n
        _sort_by_name(ranked, ranked + count, count, major, minor)
        return [ranked[n] for n in range(count)]
    finally:
        free(ranked)

#!/usr/bin/python3
"""Generates the section-3 manual pages of the C API from include/uvstreams.h.

    gen_man.py include/uvstreams.h OUTDIR

The header is the reference: its comments already say what each call does,
so the pages are made from them rather than written twice. The header is cut
into its "/* ---- title ---- */" sections; each section becomes one page
named after its object (uvs_engine(3), uvs_op(3), ...) and every function of
the section gets a one-line ".so" page pointing at it, so `man
uvs_engine_new` works. The header's opening comment becomes uvstreams(3),
the overview. A comment directly above declarations (no blank line between)
documents them; a comment followed by a blank line introduces its section.

A section title missing from PAGES below is an error, so a new header section
cannot go undocumented silently. Output is deterministic (no dates).
"""

import os
import re
import sys

# Section title in the header -> (page name, what the NAME line says).
PAGES = {
    'versions': ('uvs_version', 'library and header versions'),
    'errors': ('uvs_strerror', 'error codes and their messages'),
    'opaque handles': (None, None),  # described in uvstreams(3)
    'options': ('uvs_options',
                'string-keyed settings of engines, streams, servers and TLS'),
    'engine': ('uvs_engine', 'libuv loops and their I/O threads'),
    'completion queues': ('uvs_cq', 'completion queues of operations'),
    'operations': ('uvs_op', 'asynchronous operations and their results'),
    'streams: opening': ('uvs_connect_tcp',
                         'open streams: TCP, Unix sockets, descriptors, '
                         'pipes'),
    'streams: the standalone reader': ('uvs_reader',
                                       'streams fed by the caller'),
    'streams: reading (asyncio StreamReader semantics)':
        ('uvs_stream_read',
                         'read from a stream (asyncio StreamReader)'),
    'streams: writing (asyncio StreamWriter semantics)':
        ('uvs_stream_write',
                         'write to a stream (asyncio StreamWriter)'),
    'streams: TLS': ('uvs_stream_start_tls', 'upgrade a stream to TLS'),
    'streams: closing': ('uvs_stream_close', 'close and free streams'),
    'streams: extra info': ('uvs_stream_get_int',
                            'addresses, settings and TLS details of a stream'),
    'servers': ('uvs_server', 'listening sockets and accepted connections'),
    'TLS configurations': ('uvs_tls_config', 'TLS settings (OpenSSL)'),
}

SECTION_RE = re.compile(r'^/\* -{4} (.+?) -+\s*(\*/)?\s*$')
FUNC_RE = re.compile(r'\b(uvs_\w+)\s*\(')
LABEL_RE = re.compile(r'^([A-Za-z][A-Za-z ]{0,18}):\s+(\S.*)$')


def roff_text(text):
    """Escapes a line of running text for roff."""
    text = text.replace('\\', '\\e')
    if text.startswith(('.', "'")):
        text = '\\&' + text
    return text


def comment_lines(block):
    """The text lines of a /* ... */ block, without the comment syntax."""
    body = block.strip()
    body = body[2:-2] if body.startswith('/*') else body
    lines = []
    body = body.lstrip(' ')
    for line in body.split('\n'):
        line = re.sub(r'^\s*\* ?', '', line.rstrip())
        lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def render_comment(lines, labels=False):
    """Running text; "- item" lines become bullets and, in a section's
    introduction (labels), "label: text" lines at the left margin become
    tagged paragraphs (the key lists of the options and extra info)."""
    out = []
    for line in lines:
        stripped = line.strip()
        label = LABEL_RE.match(stripped)
        if not stripped:
            out.append('.PP')
        elif stripped.startswith('- '):
            out += ['.IP \\(bu 2', roff_text(stripped[2:])]
        elif labels and label and len(line) - len(line.lstrip()) <= 3:
            out += ['.TP', '.I ' + label.group(1), roff_text(label.group(2))]
        else:
            out.append(roff_text(stripped))
    return out


def split_units(text):
    """Cuts a section's text into (comment lines, declarations, intro)
    units. A comment whose opening line is a bare "/*" introduces the
    section; the header writes comments on declarations as "/* Text"."""
    units, comment, decls, intro = [], None, [], False
    tokens = re.finditer(r'/\*.*?\*/|\n[ \t]*\n|[^/\n][^\n]*|/[^*][^\n]*|\n',
                         text, re.S)
    for tok in tokens:
        chunk = tok.group(0)
        if chunk == '\n':
            continue
        if chunk.startswith('/*'):
            if comment is not None or decls:
                units.append((comment, decls, intro))
            comment, decls = comment_lines(chunk), []
            intro = chunk.startswith('/*\n')
        elif not chunk.strip():
            if comment is not None or decls:
                units.append((comment, decls, intro))
            comment, decls, intro = None, [], False
        else:
            decls.append(chunk.rstrip('\n'))
    if comment is not None or decls:
        units.append((comment, decls, intro))
    return units


def declarations(lines):
    """Joins declaration lines into statements (functions, enums, typedefs,
    defines), dropping UVS_API and trailing comments."""
    statements, current, exported = [], [], False
    for line in lines:
        if not current:
            exported = line.startswith('UVS_API ')
        elif exported and line.startswith(' ' * 8):
            line = line[8:]  # was aligned after "UVS_API "
        current.append(line.replace('UVS_API ', ''))
        joined = '\n'.join(current)
        if joined.startswith('#define') and not joined.endswith('\\'):
            statements.append(joined)
            current = []
        elif not joined.startswith('#') and (
                joined.rstrip().endswith(';') or
                re.search(r';\s*/\*.*\*/$', joined)):
            statements.append(joined)
            current = []
    if current:
        statements.append('\n'.join(current))
    return statements


def function_names(statement):
    if statement.startswith(('#', 'enum', 'typedef')):
        return []
    match = FUNC_RE.search(statement)
    return [match.group(1)] if match else []


def parse(header):
    """(top comment lines, [(title, units)], error table)."""
    text = open(header, encoding='utf-8').read()
    top = re.match(r'\s*(/\*.*?\*/)', text, re.S).group(1)
    lines = text.split('\n')
    sections, title, chunk = [], None, []
    for i, line in enumerate(lines):
        match = SECTION_RE.match(line)
        if match:
            if title:
                sections.append((title, '\n'.join(chunk)))
            title, chunk = match.group(1), []
            if not match.group(2) and i + 1 < len(lines):
                lines[i + 1] = lines[i + 1].replace('*/', '', 1)
        elif title:
            if line.startswith('#ifdef __cplusplus'):
                sections.append((title, '\n'.join(chunk)))
                title = None
                continue
            chunk.append(line)
    errors = re.findall(r'XX\((\w+), (-?\d+), "([^"]*)"\)', text)
    parsed = [(t, split_units(c)) for t, c in sections]
    return comment_lines(top), parsed, errors


def synopsis(units):
    out = ['.nf', '.B #include <uvstreams.h>', '.PP']
    for _, decls, _ in units:
        for statement in declarations(decls):
            if 'XX(' in statement or 'ERRNO' in statement:
                continue  # the error codes are listed in the description
            for line in statement.split('\n'):
                out.append(roff_text(line.rstrip(' \\')))
    out.append('.fi')
    return out


def page_header(name, summary, names):
    return ['.\\" Generated by docs/man/gen_man.py from include/uvstreams.h;'
            ' do not edit.',
            '.TH %s 3 "" "uvstreams %s" "uvstreams manual"' % (
                name.upper(), VERSION),
            '.SH NAME',
            ', '.join(names) + ' \\- ' + summary,
            '.SH LIBRARY',
            'uvstreams (\\fIlibuvstreams\\fP, \\fB\\-luvstreams\\fP;',
            '\\fBpkg\\-config \\-\\-cflags \\-\\-libs uvstreams\\fP)']


def group_page(name, summary, units, errors, all_pages):
    funcs = [f for _, d, _ in units for s in declarations(d)
             for f in function_names(s)]
    names = ([name] if name not in funcs else []) + funcs
    out = page_header(name, summary, names)
    out += ['.SH SYNOPSIS'] + synopsis(units) + ['.SH DESCRIPTION']
    for comment, decls, intro in units:
        documented = [f for s in declarations(decls) for f in function_names(s)]
        if intro:
            out += ['.PP'] + render_comment(comment, labels=True)
            comment = ['See the text above.']
        if comment is None and not documented:
            continue
        if documented:
            out.append('.TP')
            out.append('\\fB' + '()\\fP, \\fB'.join(documented) + '()\\fP')
            # Paragraph breaks stay inside the tagged paragraph.
            text = comment or ['See the SYNOPSIS and the text above.']
            out += [line if line != '.PP' else '.IP' for line in
                    render_comment(text)]
        elif not intro:
            out += ['.PP'] + render_comment(comment)
    if name == 'uvs_strerror':
        out.append('.SS Error codes')
        for ename, value, message in errors:
            out += ['.TP', '.B UVS_%s' % ename,
                    '(%s) %s' % (value.replace('-', '\\-'), message)]
    out += ['.SH RETURN VALUE',
            'Unless stated otherwise above, 0 on success or a negative',
            '.B UVS_E*',
            'code (see',
            '.BR uvs_strerror (3)),',
            'in which case nothing happened.',
            '.SH SEE ALSO',
            ',\n'.join('.BR %s (3)' % p for p in ['uvstreams'] + all_pages
                       if p != name)]
    return out, funcs


def overview_page(top, all_pages, handles):
    out = page_header('uvstreams', 'asyncio-style byte streams on libuv, '
                      'behind a stable C API', ['uvstreams'])
    out += ['.SH SYNOPSIS', '.nf', '.B #include <uvstreams.h>', '.PP']
    for _, decls, _ in handles:
        for statement in declarations(decls):
            out += [roff_text(line) for line in statement.split('\n')]
    out += ['.fi', '.PP', 'cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs '
            'uvstreams)', '.SH DESCRIPTION']
    # The first line is "uvstreams.h - summary": the NAME line says that.
    out += render_comment(top[1:])
    out += ['.SH PAGES']
    for page, summary in sorted((p, s) for p, s in PAGES.values() if p):
        out += ['.TP', '.BR %s (3)' % page, summary]
    out += ['.SH SEE ALSO',
            ',\n'.join('.BR %s (3)' % p for p in all_pages)]
    return out


def write(path, lines):
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def main(header, outdir):
    global VERSION
    text = open(header, encoding='utf-8').read()
    VERSION = '.'.join(re.search(r'#define UVS_VERSION_%s (\d+)' % part,
                                 text).group(1)
                       for part in ('MAJOR', 'MINOR', 'PATCH'))
    top, sections, errors = parse(header)
    unknown = [t for t, _ in sections if t not in PAGES]
    if unknown:
        sys.exit('gen_man.py: header sections without a page: %s (add them '
                 'to PAGES in docs/man/gen_man.py)' % ', '.join(unknown))
    os.makedirs(outdir, exist_ok=True)
    all_pages = [PAGES[t][0] for t, _ in sections if PAGES[t][0]]
    handles = []
    for title, units in sections:
        name, summary = PAGES[title]
        if name is None:
            handles = units
            continue
        lines, funcs = group_page(name, summary, units, errors, all_pages)
        write(os.path.join(outdir, name + '.3'), lines)
        for func in funcs:
            if func != name:
                write(os.path.join(outdir, func + '.3'),
                      ['.so man3/%s.3' % name])
    write(os.path.join(outdir, 'uvstreams.3'),
          overview_page(top, all_pages, handles))


VERSION = ''

if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: gen_man.py include/uvstreams.h OUTDIR')
    main(sys.argv[1], sys.argv[2])

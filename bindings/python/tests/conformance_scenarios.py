"""Parser of tests/conformance/scenarios.txt (format: tests/conformance/
FORMAT.md), shared by the Python conformance runner.

A scenario is a name and its client steps; peer steps are parsed (so that a
malformed file fails here too) and kept apart, the runner ignores them.
"""

import re

NAME = re.compile(r'^[a-z0-9_]+$')
ERROR_KINDS = ('incomplete', 'limit_overrun', 'timeout', 'refused', 'reset',
               'invalid')
CLIENT_STEPS = {
    # name: (number of positional arguments (None: any), their type)
    'connect': (None, 'word'),
    'connect_refused': (0, None),
    'write': (1, 'bytes'),
    'writelines': (None, 'bytes'),
    'drain': (0, None),
    'write_eof': (0, None),
    'read': (1, 'int'),
    'readline': (0, None),
    'readexactly': (1, 'int'),
    'readuntil': (1, 'bytes'),
    'readuntil_any': (None, 'bytes'),
    'close': (0, None),
}
PEER_STEPS = {'send': 'bytes', 'expect': 'bytes', 'expect_eof': None,
              'sleep': 'int', 'shutdown': None, 'close': None, 'reset': None}


class FormatError(ValueError):
    pass


def decode_bytes(token):
    """The bytes a bytes token stands for."""
    if token == '-':
        return b''
    if token.startswith('*'):
        count, sep, unit = token[1:].partition(':')
        if not sep or not count.isdigit():
            raise FormatError(f'bad repeated bytes token {token!r}')
        return _percent(unit) * int(count)
    return _percent(token)


def _percent(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == '%':
            pair = text[i + 1:i + 3]
            if len(pair) != 2 or not all(ch in '0123456789abcdefABCDEF'
                                         for ch in pair):
                raise FormatError(f'bad escape in {text!r}')
            out.append(int(pair, 16))
            i += 3
        else:
            out += c.encode('utf-8')
            i += 1
    return bytes(out)


def _int(token):
    try:
        return int(token)
    except ValueError:
        raise FormatError(f'not an int: {token!r}') from None


class Expectation:
    """ok, bytes, or an error kind with attributes."""

    def __init__(self, kind='ok', value=None, attrs=None):
        self.kind = kind          # 'ok', 'bytes' or an error kind
        self.value = value        # the bytes for 'bytes'
        self.attrs = attrs or {}  # partial (bytes), expected, consumed

    def __repr__(self):
        if self.kind == 'ok':
            return 'ok'
        if self.kind == 'bytes':
            return f'{short(self.value)}'
        return '!' + ' '.join([self.kind] + [f'{k}={short(v)}' for k, v in
                                             self.attrs.items()])


def short(value, n=60):
    """A repr of bytes (or anything) cut to about n characters."""
    if isinstance(value, (bytes, bytearray)) and len(value) > n:
        return f'{bytes(value[:n])!r}... ({len(value)} bytes)'
    return repr(value)


def _expectation(tokens, lineno):
    if not tokens:
        raise FormatError(f'line {lineno}: nothing after =>')
    head = tokens[0]
    if head == 'ok':
        if len(tokens) != 1:
            raise FormatError(f'line {lineno}: extra tokens after ok')
        return Expectation()
    if head.startswith('!'):
        kind = head[1:]
        if kind not in ERROR_KINDS:
            raise FormatError(f'line {lineno}: unknown error kind {kind!r}')
        attrs = {}
        for tok in tokens[1:]:
            key, sep, value = tok.partition('=')
            if not sep:
                raise FormatError(f'line {lineno}: bad attribute {tok!r}')
            if key == 'partial':
                attrs[key] = decode_bytes(value)
            elif key == 'expected':
                attrs[key] = None if value == 'none' else _int(value)
            elif key == 'consumed':
                attrs[key] = _int(value)
            else:
                raise FormatError(f'line {lineno}: unknown attribute {key!r}')
        return Expectation(kind, attrs=attrs)
    if len(tokens) != 1:
        raise FormatError(f'line {lineno}: one bytes token expected after =>')
    return Expectation('bytes', value=decode_bytes(head))


class Step:
    """A client step: name, args (decoded), opts (dict of str), expect,
    repeat (count), line (number in the file) and text (the line)."""

    def __init__(self, name, args, opts, expect, repeat, line, text):
        self.name, self.args, self.opts = name, args, opts
        self.expect, self.repeat, self.line, self.text = (expect, repeat,
                                                         line, text)

    def __repr__(self):
        return f'line {self.line}: {self.text}'


class Scenario:
    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.steps = []       # client steps
        self.peer_steps = []  # (verb, argument) pairs

    def uses(self, step_name):
        return any(s.name == step_name for s in self.steps)


def _client_step(tokens, lineno, text):
    expect = Expectation()
    if '=>' in tokens:
        i = tokens.index('=>')
        expect = _expectation(tokens[i + 1:], lineno)
        tokens = tokens[:i]
    repeat = 1
    if tokens and tokens[0] == 'repeat':
        if len(tokens) < 3:
            raise FormatError(f'line {lineno}: repeat N <step>')
        repeat = _int(tokens[1])
        tokens = tokens[2:]
    name, rest = tokens[0], tokens[1:]
    if name not in CLIENT_STEPS:
        raise FormatError(f'line {lineno}: unknown step {name!r}')
    opts = {}
    args = []
    for tok in rest:
        if '=' in tok:
            key, _, value = tok.partition('=')
            opts[key] = value
        else:
            args.append(tok)
    count, kind = CLIENT_STEPS[name]
    if count is not None and len(args) != count:
        raise FormatError(f'line {lineno}: {name} takes {count} argument(s)')
    if kind == 'bytes':
        args = [decode_bytes(a) for a in args]
    elif kind == 'int':
        args = [_int(a) for a in args]
    if name == 'connect':
        bad = [a for a in args if a != 'unix']
        if bad:
            raise FormatError(f'line {lineno}: bad connect argument {bad}')
    return Step(name, args, opts, expect, repeat, lineno, text)


def parse(text):
    """The scenarios of a scenarios.txt, in order."""
    scenarios = []
    names = set()
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        tokens = line.split()
        if tokens[0] == 'scenario':
            if len(tokens) != 2 or not NAME.match(tokens[1]):
                raise FormatError(f'line {lineno}: bad scenario line')
            if tokens[1] in names:
                raise FormatError(f'line {lineno}: duplicate {tokens[1]}')
            names.add(tokens[1])
            current = Scenario(tokens[1], lineno)
            scenarios.append(current)
            continue
        if current is None:
            raise FormatError(f'line {lineno}: step outside a scenario')
        if tokens[0] == 'peer':
            if len(tokens) < 2 or tokens[1] not in PEER_STEPS:
                raise FormatError(f'line {lineno}: bad peer step')
            kind = PEER_STEPS[tokens[1]]
            if len(tokens) != (3 if kind else 2):
                raise FormatError(f'line {lineno}: bad peer step arguments')
            arg = None
            if kind == 'bytes':
                arg = decode_bytes(tokens[2])
            elif kind == 'int':
                arg = _int(tokens[2])
            current.peer_steps.append((tokens[1], arg))
            continue
        current.steps.append(_client_step(tokens, lineno, line))
    for sc in scenarios:
        if not sc.steps or sc.steps[0].name not in ('connect',
                                                    'connect_refused'):
            raise FormatError(f'scenario {sc.name}: the first step must be '
                              f'connect or connect_refused')
    return scenarios


def load(path):
    with open(path, encoding='utf-8') as f:
        return parse(f.read())

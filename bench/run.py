#!/usr/bin/python3
"""make bench: echo servers measured side by side, as ratios within one run.

    /usr/bin/python3 bench/run.py [--quick] [--build build] [--out bench/results]
        [--rounds N] [--duration SEC] [--warmup SEC] [--sizes 1024,10240,102400]
        [--conns 10,100] [--only KEY,KEY...|tls] [--idle-conns N]
        [--stream-bytes BYTES] [--no-idle] [--no-stream] [--no-charts]
        [--tls-sizes 1024,...] [--tls-conns 10,...] [--no-tls]
        [--extra KEY=COMMAND] [--no-snapshot] [--list]

Every measurement starts its server fresh, warms it up, then measures with
bench/loadgen (C, epoll). Servers are interleaved over rounds (for each
round, for each message size and connection count: A B C ...), and medians
over the rounds are reported; ratios are taken within a round (server vs
reference measured minutes apart at most) and their median reported.

The figure of merit is the server's CPU time per request: user + system
from /proc/PID/stat (all threads) sampled when the load generator has
finished its warm-up with nothing in flight, and again when the measured
phase has finished with nothing in flight. On a 2-core machine the client
is often the bottleneck, so throughput alone hides the server's cost.

The programs run from a private copy of the build (library, echo-server,
bench programs, Python package), so that others rebuilding the shared tree
during the run cannot mix versions; --no-snapshot runs them in place.

The TLS rows (keys tls-*; --only tls selects them all) are the same echo
over TLS: the C echo-server with --tls-cert/--tls-key, uvstreams in Python
on both loops, asyncio+ssl and uvloop+ssl streams, against loadgen --tls
(OpenSSL; every handshake done before the warm-up, so the figure is the
cost of moving application data through TLS). The certificate (ECDSA
P-256, self-signed, for 127.0.0.1) is made by the openssl command in a
temporary directory at the start of the run. They run at --tls-sizes x
--tls-conns (--quick: 1 KiB x 10 connections only), interleaved with the
others, and have a table of their own with ratios to uvloop+ssl and
asyncio+ssl.

The exit status is non-zero if any server fails to start, dies, or echoes
wrongly (the load generator checks every byte). The numbers are never
judged by the exit status; the target table is informational.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import resource
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import handshake

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = '/usr/bin/python3'
CLK_TCK = os.sysconf('SC_CLK_TCK')
KIB = 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the servers ---------------------------------------------------------------

class Server:
    """One row of the benchmark: how to start it and what it is compared
    with. group drives the chart colours; handler is read/readline for the
    asyncio-style rows (the uvloop reference has the same handler)."""

    def __init__(self, key, label, group, argv, python=False, uvstreams=False,
                 handler='read', tls=False):
        self.key, self.label, self.group = key, label, group
        self.argv, self.python, self.uvstreams = argv, python, uvstreams
        self.handler, self.tls = handler, tls
        self.unavailable = None  # reason, when the row cannot run

    @property
    def uvloop_ref(self):
        return ('tls-' if self.tls else '') + f'uvloop-{self.handler}'

    @property
    def asyncio_ref(self):
        return ('tls-' if self.tls else '') + f'asyncio-{self.handler}'

    def runs_at(self, size, conns, args):
        """Whether this row is measured at (size, conns)."""
        return not self.tls or (size in args.tls_sizes
                                and conns in args.tls_conns)


def make_servers(b, tls_dir, scaling=(2,)):
    """The rows, with the programs taken from b (a build directory or its
    snapshot, see snapshot_build); the TLS rows' certificate and key are
    tls_dir's cert.pem and key.pem (see make_certificate); scaling lists the
    I/O loop counts of the multi-loop rows (c-threads is the 1-loop one):
    c-threads-Nio hands accepted connections to the loops, c-threads-Nio-rp
    has one SO_REUSEPORT listener per loop (--reuseport)."""
    py = [PYTHON, os.path.join(HERE, 'pyservers.py')]
    tls = ['--tls-cert', os.path.join(tls_dir, 'cert.pem'),
           '--tls-key', os.path.join(tls_dir, 'key.pem')]
    s = [
        Server('bare', 'bare libuv (C floor)', 'c',
               [os.path.join(b, 'bench', 'bare_echo'), '--port', '0']),
        Server('c-cq', 'uvstreams C echo-server --mode cq', 'c',
               [os.path.join(b, 'examples', 'echo-server'), '--port', '0',
                '--mode', 'cq']),
        Server('c-threads', 'uvstreams C echo-server --mode threads', 'c',
               [os.path.join(b, 'examples', 'echo-server'), '--port', '0',
                '--mode', 'threads']),
    ]
    for n in scaling:
        for suffix, label, extra in (('', 'hand-off', []),
                                     ('-rp', 'reuseport', ['--reuseport'])):
            s.append(Server(
                f'c-threads-{n}io{suffix}',
                f'C --mode threads, {n} loops, {label}',
                'c', [os.path.join(b, 'examples', 'echo-server'),
                      '--port', '0', '--mode', 'threads',
                      '--io-threads', str(n)] + extra))
    for handler in ('read', 'readline'):
        s.append(Server(f'asyncio-{handler}', f'asyncio streams, {handler}',
                        'asyncio', py + ['asyncio-streams', '--loop', 'asyncio',
                                         '--handler', handler],
                        python=True, handler=handler))
        s.append(Server(f'uvloop-{handler}', f'uvloop streams, {handler}',
                        'uvloop', py + ['asyncio-streams', '--loop', 'uvloop',
                                        '--handler', handler],
                        python=True, handler=handler))
        for loop in ('asyncio', 'uvloop'):
            s.append(Server(f'uvs-{loop}-{handler}',
                            f'uvstreams py on {loop}, {handler}', 'uvstreams',
                            py + ['uvstreams', '--loop', loop, '--handler',
                                  handler],
                            python=True, uvstreams=True, handler=handler))
    s.append(Server('uvs-sync', 'uvstreams.sync thread pool', 'threads',
                    py + ['uvstreams-sync'], python=True, uvstreams=True))
    s.append(Server('plain-threads', 'plain socket thread pool (py)',
                    'threads', py + ['plain-threads'], python=True))
    s.append(Server('tls-c-cq', 'TLS: uvstreams C echo-server cq', 'c',
                    [os.path.join(b, 'examples', 'echo-server'), '--port',
                     '0', '--mode', 'cq'] + tls, tls=True))
    for kind, loop, key, label, group, uvs in (
            ('asyncio-streams', 'asyncio', 'tls-asyncio-read',
             'TLS: asyncio+ssl streams, read', 'asyncio', False),
            ('asyncio-streams', 'uvloop', 'tls-uvloop-read',
             'TLS: uvloop+ssl streams, read', 'uvloop', False),
            ('uvstreams', 'asyncio', 'tls-uvs-asyncio-read',
             'TLS: uvstreams py on asyncio, read', 'uvstreams', True),
            ('uvstreams', 'uvloop', 'tls-uvs-uvloop-read',
             'TLS: uvstreams py on uvloop, read', 'uvstreams', True)):
        s.append(Server(key, label, group,
                        py + [kind, '--loop', loop, '--handler', 'read'] + tls,
                        python=True, uvstreams=uvs, tls=True))
    return s


TLS_KEYS = ('tls-c-cq', 'tls-uvs-asyncio-read', 'tls-uvs-uvloop-read',
            'tls-uvloop-read', 'tls-asyncio-read')


def make_certificate(tls_dir):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost
    (the load generator does not verify it) in tls_dir; None, or the reason
    it could not be made."""
    argv = ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
            '-keyout', os.path.join(tls_dir, 'key.pem'),
            '-out', os.path.join(tls_dir, 'cert.pem'),
            '-subj', '/CN=localhost',
            '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']
    try:
        p = subprocess.run(argv, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f'cannot make a certificate with the openssl command: {e}'
    if p.returncode != 0:
        return ('openssl req failed: '
                + p.stderr.decode(errors='replace').strip()[-200:])
    return None


# Rows of the idle-memory and large-transfer parts.
IDLE_KEYS = ('bare', 'c-cq', 'uvs-asyncio-read', 'uvs-uvloop-read',
             'uvloop-read', 'asyncio-read')
STREAM_KEYS = ('bare', 'c-cq', 'c-threads')


class BenchError(Exception):
    pass


# ---- processes -------------------------------------------------------------------

class Lines:
    """Line reader with timeouts on a child's stdout."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b''

    def readline(self, timeout, what):
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f'timed out after {timeout:.0f} s waiting '
                                 f'for {what}')
            r, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise BenchError(f'end of output while waiting for {what}'
                                     + (f' (got {self.buf!r})' if self.buf
                                        else ''))
                self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode(errors='replace').strip()

    def rest(self, timeout):
        """Everything up to end of file (or what came within timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.buf += chunk
        out, self.buf = self.buf, b''
        return out.decode(errors='replace')


def tail(f, n=8):
    try:
        f.seek(0)
        lines = f.read().decode(errors='replace').strip().splitlines()
    except (OSError, ValueError):
        return ''
    return '\n'.join('    ' + line for line in lines[-n:])


class Running:
    """A server process, started fresh; stop() checks it is still alive."""

    def __init__(self, spec, env):
        self.spec = spec
        self.err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE,
                                         stderr=self.err, env=env, cwd=ROOT)
        except OSError as e:
            raise BenchError(f'cannot start {spec.argv[0]}: {e}')
        self.out = Lines(self.proc.stdout)
        try:
            line = self.out.readline(30, '"serving on HOST:PORT"')
        except BenchError as e:
            self.proc.poll()
            detail = tail(self.err)
            status = self.proc.returncode
            self.kill()
            raise BenchError(f'server failed to start: {e}'
                             + (f' (exit status {status})'
                                if status is not None else '')
                             + (f'\n{detail}' if detail else ''))
        if not line.startswith('serving on ') or ':' not in line:
            detail = tail(self.err)
            self.kill()
            raise BenchError(f'unexpected first line {line!r}\n'
                             f'{detail}'.strip())
        self.host, port = line[len('serving on '):].rsplit(':', 1)
        self.host = self.host.strip('[]')
        self.port = int(port)
        self.pid = self.proc.pid

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f'server died (exit status '
                             f'{self.proc.returncode})\n{tail(self.err)}'.strip())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.err.close()

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s. Returns a warning or None."""
        self.check_alive()
        self.proc.send_signal(signal.SIGTERM)
        warning = None
        try:
            rc = self.proc.wait(10)
            if rc != 0:
                warning = (f'{self.spec.key}: exit status {rc} after SIGTERM'
                           f'\n{tail(self.err, 4)}')
        except subprocess.TimeoutExpired:
            warning = f'{self.spec.key}: did not exit on SIGTERM, killed'
        self.kill()
        return warning


def proc_cpu_ticks(pid):
    """user + system clock ticks of the whole process (all its threads)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_schedstat_ns(pid):
    """(sum of on-CPU ns over the live threads, their ids): a finer cross-check
    of the tick-based figure, valid when no thread came or went."""
    total, tids = 0, []
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
            tids.append(tid)
        except OSError:
            pass
    return total, tuple(sorted(tids))


def machine_busy_ticks():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def rss_kib(pid):
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(('VmRSS:', 'RssAnon:')):
                k, v = line.split(':')
                out[k] = int(v.split()[0])
    return out


class Sample:
    def __init__(self, server_pid, lg_pid):
        self.t = time.monotonic()
        self.server = proc_cpu_ticks(server_pid)
        self.sched, self.tids = proc_schedstat_ns(server_pid)
        self.lg = proc_cpu_ticks(lg_pid)
        self.busy = machine_busy_ticks()


def sample_delta(s0, s1):
    secs = s1.t - s0.t
    server_s = (s1.server - s0.server) / CLK_TCK
    lg_s = (s1.lg - s0.lg) / CLK_TCK
    other = (s1.busy - s0.busy) / CLK_TCK - server_s - lg_s
    d = {'server_cpu_s': server_s, 'loadgen_cpu_s': lg_s,
         'other_cpu_cores': max(0.0, other / secs) if secs > 0 else None,
         'wall_s': secs}
    if s0.tids == s1.tids:
        d['server_cpu_s_schedstat'] = (s1.sched - s0.sched) / 1e9
    return d


# ---- measurements ------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.loadgen = os.path.join(args.bindir, 'bench', 'loadgen')
        self.env = dict(os.environ)
        pp = os.path.join(args.bindir, 'python')
        self.env['PYTHONPATH'] = pp + (os.pathsep + self.env['PYTHONPATH']
                                       if self.env.get('PYTHONPATH') else '')
        # The library: the snapshot's copy wins over the RUNPATH of the
        # echo-server and of the Python extension (both use RUNPATH).
        lib = os.path.join(args.bindir, 'lib')
        self.env['LD_LIBRARY_PATH'] = lib + (
            os.pathsep + self.env['LD_LIBRARY_PATH']
            if self.env.get('LD_LIBRARY_PATH') else '')
        self.env['PYTHONDONTWRITEBYTECODE'] = '1'
        self.runs = []
        self.failures = []
        self.warnings = []

    def _loadgen(self, argv):
        err = tempfile.TemporaryFile()
        p = subprocess.Popen([self.loadgen] + argv, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        return p, Lines(p.stdout), err

    def _finish_loadgen(self, p, out, err, what):
        try:
            # Until end of file: the idle mode still pings every connection
            # once more and closes them before printing its result.
            rest = out.rest(300)
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise BenchError('load generator did not exit')
        finally:
            p.stdin.close()
            p.stdout.close()
        lines = [ln for ln in rest.splitlines() if ln.startswith('{')]
        result = json.loads(lines[-1]) if lines else None
        if rc != 0 or result is None or 'error' in result:
            msg = (result or {}).get('error') or tail(err)
            err.close()
            raise BenchError(f'load generator failed (exit {rc}): {msg.strip()}')
        err.close()
        return result

    def _abort_loadgen(self, p, out, err):
        # The load generator's own message (echo mismatch...) explains best.
        if p.poll() is None:
            p.kill()
        p.wait()
        rest = out.rest(0.1)
        lines = [ln for ln in rest.splitlines() if ln.startswith('{')]
        msg = json.loads(lines[-1]).get('error') if lines else tail(err)
        p.stdout.close()
        p.stdin.close()
        err.close()
        return msg

    def _sync_run(self, srv, argv, what, timeout):
        """A --sync load generator run; CPU sampled at warm and done."""
        p, out, err = self._loadgen(argv + ['--sync'])
        try:
            line = out.readline(timeout, '"warm"')
            if line != 'warm':
                raise BenchError(f'expected "warm", got {line!r}')
            srv.check_alive()
            s0 = Sample(srv.pid, p.pid)
            p.stdin.write(b'go\n')
            p.stdin.flush()
            line = out.readline(timeout, '"done"')
            if line != 'done':
                raise BenchError(f'expected "done", got {line!r}')
            s1 = Sample(srv.pid, p.pid)
            p.stdin.write(b'exit\n')
            p.stdin.flush()
        except (BenchError, OSError) as e:
            msg = self._abort_loadgen(p, out, err)
            raise BenchError((msg or str(e)).strip())
        result = self._finish_loadgen(p, out, err, what)
        result.update(sample_delta(s0, s1))
        return result

    def _with_server(self, spec, fn, what):
        """Starts spec fresh, runs fn(server), stops it; records failures."""
        run = {'server': spec.key, 'what': what}
        srv = None
        try:
            srv = Running(spec, self.env)
            run.update(fn(srv))
            warning = srv.stop()
            srv = None
            if warning:
                self.warnings.append(warning)
                log(f'  warning: {warning}')
            run['ok'] = True
        except BenchError as e:
            if srv is not None and srv.proc.poll() is not None:
                e = BenchError(f'{e} (the server had exited, status '
                               f'{srv.proc.returncode})\n{tail(srv.err)}'
                               .strip())
            run['ok'] = False
            run['error'] = str(e)
            self.failures.append(f'{what} {spec.key}: {e}')
            log(f'  FAILED {spec.key}: {e}')
        finally:
            if srv is not None:
                srv.kill()
        return run

    def pingpong(self, spec, rnd, size, conns):
        a = self.args
        what = f'pingpong {size // KIB} KiB x {conns}'

        def fn(srv):
            r = self._sync_run(
                srv, ['pingpong', '--host', srv.host, '--port', str(srv.port),
                      '--conns', str(conns), '--size', str(size),
                      '--duration', str(a.duration), '--warmup', str(a.warmup)]
                + (['--tls'] if spec.tls else []),
                f'{what} {spec.key}', 60 + a.duration + a.warmup)
            r['cpu_us_per_req'] = (r['server_cpu_s'] * 1e6 / r['requests']
                                   if r['requests'] else None)
            if 'server_cpu_s_schedstat' in r and r['requests']:
                r['cpu_us_per_req_schedstat'] = (
                    r['server_cpu_s_schedstat'] * 1e6 / r['requests'])
            return r

        run = self._with_server(spec, fn, what)
        run.update(kind='pingpong', round=rnd, size=size, conns=conns)
        self.runs.append(run)
        if run['ok']:
            log(f'  {spec.key:22s} {run["rps"]:10.0f} req/s '
                f'{run["cpu_us_per_req"]:8.2f} us/req cpu '
                f'(other load {run["other_cpu_cores"]:.2f} cores)')
        return run

    def stream(self, spec, rnd):
        a = self.args
        what = f'stream {a.stream_bytes >> 20} MiB'

        def fn(srv):
            r = self._sync_run(
                srv, ['stream', '--host', srv.host, '--port', str(srv.port),
                      '--bytes', str(a.stream_bytes)],
                f'{what} {spec.key}', 120 + a.stream_bytes / 2 ** 26)
            r['server_cpu_s_per_gib'] = r['server_cpu_s'] / (
                a.stream_bytes / 2 ** 30)
            return r

        run = self._with_server(spec, fn, what)
        run.update(kind='stream', round=rnd)
        self.runs.append(run)
        if run['ok']:
            log(f'  {spec.key:22s} {run["gib_s"]:8.3f} GiB/s '
                f'{run["server_cpu_s_per_gib"]:.3f} s cpu/GiB')
        return run

    def idle(self, spec, rnd):
        a = self.args
        what = f'idle x {a.idle_conns}'

        def fn(srv):
            # Warm-up: the lazy one-off allocations happen before the base.
            p, out, err = self._loadgen(
                ['pingpong', '--host', srv.host, '--port', str(srv.port),
                 '--conns', '10', '--size', '1024', '--duration', '0.3',
                 '--warmup', '0'])
            self._finish_loadgen(p, out, err, f'{what} {spec.key} warm-up')
            time.sleep(0.3)
            srv.check_alive()
            base = rss_kib(srv.pid)
            p, out, err = self._loadgen(
                ['idle', '--host', srv.host, '--port', str(srv.port),
                 '--conns', str(a.idle_conns), '--size', '64'])
            try:
                line = out.readline(60 + a.idle_conns / 100, '"ready"')
                if line != 'ready':
                    raise BenchError(f'expected "ready", got {line!r}')
                time.sleep(0.5)
                srv.check_alive()
                full = rss_kib(srv.pid)
                p.stdin.write(b'go\n')
                p.stdin.flush()
            except (BenchError, OSError) as e:
                msg = self._abort_loadgen(p, out, err)
                raise BenchError((msg or str(e)).strip())
            r = self._finish_loadgen(p, out, err, f'{what} {spec.key}')
            n = a.idle_conns
            r.update(rss_base_kib=base.get('VmRSS'),
                     rss_idle_kib=full.get('VmRSS'),
                     bytes_per_conn=(full['VmRSS'] - base['VmRSS']) * KIB / n,
                     anon_bytes_per_conn=(
                         (full['RssAnon'] - base['RssAnon']) * KIB / n
                         if 'RssAnon' in full and 'RssAnon' in base else None))
            return r

        run = self._with_server(spec, fn, what)
        run.update(kind='idle', round=rnd)
        self.runs.append(run)
        if run['ok']:
            log(f'  {spec.key:22s} {run["bytes_per_conn"]:10.0f} B/conn RSS')
        return run


# ---- summary ----------------------------------------------------------------------

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs, servers, args):
    """Medians per (config, server) and medians of per-round ratios."""
    ok = [r for r in runs if r.get('ok')]
    by = {}
    for r in ok:
        if r['kind'] == 'pingpong':
            key = ('pingpong', r['size'], r['conns'])
        else:
            key = (r['kind'],)
        by.setdefault(key, {}).setdefault(r['server'], {})[r['round']] = r

    def ratio(rows, server, ref, field):
        a, b = rows.get(server, {}), rows.get(ref, {})
        vals = [a[k][field] / b[k][field] for k in a
                if k in b and a[k].get(field) and b[k].get(field)]
        return median(vals)

    spec = {s.key: s for s in servers}
    out = {'pingpong': [], 'stream': {}, 'idle': {}}
    for size in args.sizes:
        for conns in args.conns:
            rows = by.get(('pingpong', size, conns), {})
            for s in servers:
                if not s.runs_at(size, conns, args):
                    continue
                rr = rows.get(s.key, {})
                row = {'server': s.key, 'size': size, 'conns': conns,
                       'rounds': len(rr)}
                if s.tls:
                    row['tls'] = ', '.join(sorted({r.get('tls') or '?'
                                                   for r in rr.values()}))
                for f in ('rps', 'mib_s', 'p50_us', 'p99_us',
                          'cpu_us_per_req', 'other_cpu_cores'):
                    row[f] = median(r.get(f) for r in rr.values())
                row['cpu_vs_uvloop'] = ratio(rows, s.key, s.uvloop_ref,
                                             'cpu_us_per_req')
                row['cpu_vs_asyncio'] = ratio(rows, s.key, s.asyncio_ref,
                                              'cpu_us_per_req')
                row['cpu_vs_bare'] = ratio(rows, s.key, 'bare',
                                           'cpu_us_per_req')
                row['rps_vs_uvloop'] = ratio(rows, s.key, s.uvloop_ref, 'rps')
                row['rps_vs_bare'] = ratio(rows, s.key, 'bare', 'rps')
                row['rps_vs_plain_threads'] = ratio(rows, s.key,
                                                    'plain-threads', 'rps')
                if s.key.startswith('c-threads-'):  # scaling: vs 1 loop
                    row['rps_vs_one_loop'] = ratio(rows, s.key, 'c-threads',
                                                   'rps')
                    row['cpu_vs_one_loop'] = ratio(rows, s.key, 'c-threads',
                                                   'cpu_us_per_req')
                if s.key.endswith('-rp'):  # per-loop listeners vs hand-off
                    row['rps_vs_hand_off'] = ratio(rows, s.key, s.key[:-3],
                                                   'rps')
                    row['cpu_vs_hand_off'] = ratio(rows, s.key, s.key[:-3],
                                                   'cpu_us_per_req')
                out['pingpong'].append(row)
    rows = by.get(('stream',), {})
    for k in STREAM_KEYS:
        rr = rows.get(k, {})
        if k in spec:
            out['stream'][k] = {
                'rounds': len(rr),
                'gib_s': median(r['gib_s'] for r in rr.values()),
                'server_cpu_s_per_gib': median(
                    r['server_cpu_s_per_gib'] for r in rr.values()),
                'gib_s_vs_bare': ratio(rows, k, 'bare', 'gib_s'),
                'cpu_vs_bare': ratio(rows, k, 'bare', 'server_cpu_s_per_gib')}
    rows = by.get(('idle',), {})
    for k in IDLE_KEYS:
        rr = rows.get(k, {})
        if k in spec:
            out['idle'][k] = {
                'rounds': len(rr),
                'bytes_per_conn': median(r['bytes_per_conn']
                                         for r in rr.values()),
                'anon_bytes_per_conn': median(r.get('anon_bytes_per_conn')
                                              for r in rr.values()),
                'vs_uvloop': ratio(rows, k, 'uvloop-read', 'bytes_per_conn')}
    return out


def find_row(summary, key, size, conns):
    for r in summary['pingpong']:
        if r['server'] == key and r['size'] == size and r['conns'] == conns:
            return r
    return None


def targets(summary, servers, args):
    """The issue's targets: (description, limit text, {label: (value, ok)})."""
    spec = {s.key: s for s in servers}
    out = []

    def add(desc, limit, cmp, values):
        cells = {}
        for label, v in values:
            cells[label] = (v, None if v is None else cmp(v))
        out.append({'target': desc, 'limit': limit,
                    'values': {k: {'value': v, 'holds': ok}
                               for k, (v, ok) in cells.items()}})

    def per_conns(key, size, field):
        vals = []
        for c in args.conns:
            r = find_row(summary, key, size, c)
            vals.append((f'{c} conns', r.get(field) if r else None))
        return vals

    sizes = [s for s in (1 * KIB, 100 * KIB) if s in args.sizes]
    for key in ('c-cq', 'c-threads'):
        if key in spec:
            for size in sizes:
                add(f'{key}: CPU/req vs bare libuv @ {size // KIB} KiB',
                    '<= 1.10', lambda v: v <= 1.10,
                    per_conns(key, size, 'cpu_vs_bare'))
    for handler in ('read', 'readline'):
        for loop in ('asyncio', 'uvloop'):
            key = f'uvs-{loop}-{handler}'
            if key not in spec:
                continue
            for size in sizes:
                lim = 0.8 if size == KIB else 0.6
                add(f'{key}: CPU/req vs uvloop streams {handler} @ '
                    f'{size // KIB} KiB', f'<= {lim:.2f}',
                    lambda v, lim=lim: v <= lim,
                    per_conns(key, size, 'cpu_vs_uvloop'))
            if handler == 'read':
                for size in sizes:
                    add(f'{key}: CPU/req vs asyncio streams read @ '
                        f'{size // KIB} KiB', '<= 0.30', lambda v: v <= 0.30,
                        per_conns(key, size, 'cpu_vs_asyncio'))
    for key in ('tls-c-cq', 'tls-uvs-asyncio-read', 'tls-uvs-uvloop-read'):
        if key not in spec:
            continue
        for size in args.tls_sizes:
            for ref, field in (('uvloop+ssl', 'cpu_vs_uvloop'),
                               ('asyncio+ssl', 'cpu_vs_asyncio')):
                vals = []
                for c in args.tls_conns:
                    r = find_row(summary, key, size, c)
                    vals.append((f'{c} conns', r.get(field) if r else None))
                add(f'{key}: CPU/req vs {ref} streams read @ '
                    f'{size // KIB} KiB', '< 1.00', lambda v: v < 1.0, vals)
    if 'uvs-sync' in spec:
        for size in args.sizes:
            add(f'uvs-sync: req/s vs plain-socket threads @ {size // KIB} KiB',
                '>= 1.00', lambda v: v >= 1.0,
                per_conns('uvs-sync', size, 'rps_vs_plain_threads'))
    idle = summary['idle']
    if 'c-cq' in idle:
        add(f'c-cq: RSS per idle connection ({args.idle_conns} idle)',
            '<= 2048 B', lambda v: v <= 2048,
            [('bytes', idle['c-cq']['bytes_per_conn'])])
    for key in ('uvs-asyncio-read', 'uvs-uvloop-read'):
        if key in idle:
            add(f'{key}: RSS per idle connection vs uvloop streams',
                '<= 0.50', lambda v: v <= 0.5,
                [('ratio', idle[key]['vs_uvloop'])])
    for key in ('c-cq', 'c-threads'):
        if key in summary['stream']:
            add(f'{key}: large transfer GiB/s vs bare libuv', '>= 0.80',
                lambda v: v >= 0.8,
                [('ratio', summary['stream'][key]['gib_s_vs_bare'])])
    return out


# ---- output -------------------------------------------------------------------------

def fmt(v, spec='.2f', width=9):
    if v is None:
        return '-'.rjust(width)
    return format(v, spec).rjust(width)


def print_tables(summary, tgts, servers, args, avail_note):
    spec = {s.key: s for s in servers}
    print()
    print(f'uvstreams echo benchmark: median of {args.rounds} round(s), '
          f'{args.duration} s per measurement after {args.warmup} s warm-up')
    print('CPU = server user+sys per request (all threads); xuvloop = ratio '
          'to uvloop streams with the same handler; xbare = ratio to bare '
          'libuv; ratios are medians of per-round ratios.')
    if avail_note:
        print(avail_note)
    hdr = (f'{"server":38s}{"req/s":>9s}{"MiB/s":>8s}{"p50 us":>9s}'
           f'{"p99 us":>9s}{"CPU us":>9s}{"CPU":>8s}{"CPU":>7s}{"req/s":>8s}'
           f'{"req/s":>7s}')
    hdr2 = (f'{"":38s}{"":9s}{"":8s}{"":9s}{"":9s}{"/req":>9s}{"xuvloop":>8s}'
            f'{"xbare":>7s}{"xuvloop":>8s}{"xbare":>7s}')
    plain = [s for s in servers if not s.tls]
    for size in args.sizes if plain else ():
        for conns in args.conns:
            print()
            print(f'== {size // KIB} KiB messages, {conns} connections ==')
            print(hdr)
            print(hdr2)
            for s in plain:  # the TLS rows have their own table, below
                r = find_row(summary, s.key, size, conns)
                name = s.label[:37]
                if s.unavailable:
                    print(f'{name:38s}unavailable: {s.unavailable}')
                    continue
                if r is None or r['rounds'] == 0:
                    print(f'{name:38s}FAILED (see errors below)')
                    continue
                print(f'{name:38s}{fmt(r["rps"], ",.0f")}'
                      f'{fmt(r["mib_s"], ".1f", 8)}{fmt(r["p50_us"], ".0f")}'
                      f'{fmt(r["p99_us"], ".0f")}'
                      f'{fmt(r["cpu_us_per_req"], ".2f")}'
                      f'{fmt(r["cpu_vs_uvloop"], ".2f", 8)}'
                      f'{fmt(r["cpu_vs_bare"], ".2f", 7)}'
                      f'{fmt(r["rps_vs_uvloop"], ".2f", 8)}'
                      f'{fmt(r["rps_vs_bare"], ".2f", 7)}')
    print_tls_tables(summary, servers, args)
    print_scaling(summary)
    if summary['stream']:
        print()
        print(f'== one large transfer ({args.stream_bytes >> 20} MiB echoed '
              'through one connection) ==')
        print(f'{"server":38s}{"GiB/s":>9s}{"xbare":>8s}{"CPU s/GiB":>11s}'
              f'{"CPU xbare":>11s}')
        for k, r in summary['stream'].items():
            name = spec[k].label[:37]
            if r['rounds'] == 0:
                print(f'{name:38s}FAILED')
                continue
            print(f'{name:38s}{fmt(r["gib_s"], ".3f")}'
                  f'{fmt(r["gib_s_vs_bare"], ".2f", 8)}'
                  f'{fmt(r["server_cpu_s_per_gib"], ".3f", 11)}'
                  f'{fmt(r["cpu_vs_bare"], ".2f", 11)}')
    if summary['idle']:
        print()
        print(f'== memory: server RSS per idle connection '
              f'({args.idle_conns} idle connections) ==')
        print(f'{"server":38s}{"bytes":>9s}{"anon B":>9s}{"xuvloop":>9s}')
        for k, r in summary['idle'].items():
            name = spec[k].label[:37]
            if spec[k].unavailable:
                print(f'{name:38s}unavailable: {spec[k].unavailable}')
                continue
            if r['rounds'] == 0:
                print(f'{name:38s}FAILED')
                continue
            print(f'{name:38s}{fmt(r["bytes_per_conn"], ",.0f")}'
                  f'{fmt(r["anon_bytes_per_conn"], ",.0f")}'
                  f'{fmt(r["vs_uvloop"], ".2f")}')
    if tgts:
        print()
        print('== the issue\'s targets (informational: never fails the run) ==')
        width = max(len(t['target']) for t in tgts)
        for t in tgts:
            cells = []
            for label, c in t['values'].items():
                v = c['value']
                if v is None:
                    cells.append(f'{label}: n/a')
                else:
                    verdict = 'holds' if c['holds'] else 'MISSED'
                    cells.append(f'{label}: {v:.2f} {verdict}')
            print(f'  {t["target"]:{width}s} {t["limit"]:>9s}   '
                  + ';  '.join(cells))


def print_scaling(summary):
    """Multi-loop rows: throughput and CPU per request against one loop."""
    rows = [r for r in summary['pingpong']
            if r.get('rps_vs_one_loop') is not None]
    if not rows:
        return
    print()
    print('== scaling: echo-server --mode threads, N I/O loops vs 1 '
          '(-rp: SO_REUSEPORT listener per loop, also vs hand-off) ==')
    for r in rows:
        line = (f'{r["server"]:18s} {r["size"] // KIB:4d} KiB x '
                f'{r["conns"]:3d} conns: req/s x{r["rps_vs_one_loop"]:.2f}, '
                f'CPU/req x{fmt_ratio(r["cpu_vs_one_loop"])}')
        if r.get('rps_vs_hand_off') is not None:
            line += (f';  vs hand-off: req/s '
                     f'x{fmt_ratio(r["rps_vs_hand_off"])}, CPU/req '
                     f'x{fmt_ratio(r.get("cpu_vs_hand_off"))}')
        print(line)


def fmt_ratio(v):
    return '-' if v is None else f'{v:.2f}'


def print_tls_tables(summary, servers, args):
    """The TLS rows: one table per measured size and connection count,
    with CPU per request as ratios to uvloop+ssl and asyncio+ssl."""
    rows = [s for s in servers if s.tls]
    if not rows:
        return
    for size in args.tls_sizes:
        for conns in args.tls_conns:
            if size not in args.sizes or conns not in args.conns:
                continue
            print()
            print(f'== TLS echo: {size // KIB} KiB messages, {conns} '
                  'connections (x = ratio of server CPU per request) ==')
            print(f'{"server":38s}{"req/s":>9s}{"p50 us":>9s}{"CPU us":>9s}'
                  f'{"x uvloop":>10s}{"x asyncio":>10s}{"x bare":>8s}  '
                  'negotiated')
            print(f'{"":38s}{"":9s}{"":9s}{"/req":>9s}{"+ssl":>10s}'
                  f'{"+ssl":>10s}{"(plain)":>8s}')
            for s in rows:
                r = find_row(summary, s.key, size, conns)
                name = s.label[:37]
                if s.unavailable:
                    print(f'{name:38s}unavailable: {s.unavailable}')
                elif r is None or r['rounds'] == 0:
                    print(f'{name:38s}FAILED (see errors below)')
                else:
                    print(f'{name:38s}{fmt(r["rps"], ",.0f")}'
                          f'{fmt(r["p50_us"], ".0f")}'
                          f'{fmt(r["cpu_us_per_req"], ".2f")}'
                          f'{fmt(r["cpu_vs_uvloop"], ".2f", 10)}'
                          f'{fmt(r["cpu_vs_asyncio"], ".2f", 10)}'
                          f'{fmt(r["cpu_vs_bare"], ".2f", 8)}  {r["tls"]}')


# ---- charts -------------------------------------------------------------------------

GROUP_COLORS = {'c': '#1f77b4', 'asyncio': '#7f7f7f', 'uvloop': '#ff7f0e',
                'uvstreams': '#2ca02c', 'threads': '#9467bd',
                'other': '#8c564b'}


def charts(summary, servers, args, out_dir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    made = []
    shown = [s for s in servers if not s.unavailable]
    legend = [Patch(color=GROUP_COLORS[g], label=lab) for g, lab in (
        ('c', 'C (bare libuv, uvstreams C API)'), ('uvstreams', 'uvstreams Python'),
        ('uvloop', 'uvloop streams'), ('asyncio', 'asyncio streams'),
        ('threads', 'threaded Python'))] + (
        [Patch(color=GROUP_COLORS['other'], label='--extra')]
        if any(s.group == 'other' for s in shown) else [])
    metrics = (
        ('cpu_per_request.png', 'cpu_us_per_req',
         'Server CPU per request (µs, user+sys, lower is better)', '{:.1f}'),
        ('throughput.png', 'rps',
         'Throughput (requests/s, higher is better)', '{:,.0f}'),
    )
    for fname, field, title, vfmt in metrics:
        nr, nc = len(args.conns), len(args.sizes)
        fig, axes = plt.subplots(nr, nc, figsize=(5.2 * nc + 2.5,
                                                  0.36 * len(shown) * nr + 1.8),
                                 squeeze=False, sharey=True)
        labels = [s.label for s in shown]
        for i, conns in enumerate(args.conns):
            for j, size in enumerate(args.sizes):
                ax = axes[i][j]
                vals, colors = [], []
                for s in shown:
                    r = find_row(summary, s.key, size, conns)
                    vals.append(r[field] if r and r[field] is not None else 0)
                    colors.append(GROUP_COLORS[s.group])
                ys = range(len(shown))
                ax.barh(ys, vals, color=colors)
                top = max(vals) if vals and max(vals) > 0 else 1
                for y, v in zip(ys, vals):
                    ax.text(v + top * 0.01, y,
                            vfmt.format(v) if v else 'n/a',
                            va='center', fontsize=7)
                ax.set_xlim(0, top * 1.22)
                ax.set_title(f'{size // KIB} KiB, {conns} connections',
                             fontsize=10)
                ax.tick_params(axis='x', labelsize=7)
                ax.grid(axis='x', alpha=0.3)
                ax.set_yticks(list(ys))
                ax.set_yticklabels(labels, fontsize=8)
                ax.invert_yaxis() if (i, j) == (0, 0) else None
        fig.suptitle(f'{title}; median of {args.rounds} round(s)', fontsize=12)
        fig.legend(handles=legend, loc='lower center', ncol=5, fontsize=8,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
        path = os.path.join(out_dir, fname)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)

    idle, stream = summary['idle'], summary['stream']
    if idle or stream:
        spec = {s.key: s for s in servers}
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), squeeze=False)
        for ax, data, field, title, vfmt in (
                (axes[0][0], idle, 'bytes_per_conn',
                 f'RSS per idle connection, bytes ({args.idle_conns} idle; '
                 'lower is better)', '{:,.0f}'),
                (axes[0][1], stream, 'gib_s',
                 f'One {args.stream_bytes >> 20} MiB transfer, GiB/s '
                 '(higher is better)', '{:.2f}')):
            keys = [k for k in data if not spec[k].unavailable]
            vals = [data[k][field] or 0 for k in keys]
            ax.barh(range(len(keys)), vals,
                    color=[GROUP_COLORS[spec[k].group] for k in keys])
            top = max(vals) if vals and max(vals) > 0 else 1
            for y, v in enumerate(vals):
                ax.text(v + top * 0.01, y, vfmt.format(v) if v else 'n/a',
                        va='center', fontsize=8)
            ax.set_xlim(0, top * 1.25)
            ax.set_yticks(range(len(keys)))
            ax.set_yticklabels([spec[k].label for k in keys], fontsize=8)
            ax.invert_yaxis()
            ax.set_title(title, fontsize=10)
            ax.grid(axis='x', alpha=0.3)
            ax.tick_params(axis='x', labelsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, 'memory_transfer.png')
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    return made


# ---- main -----------------------------------------------------------------------------

def snapshot_build(build):
    """Copies what the bench runs (the library, echo-server, the bench
    programs, the Python package) to a private directory, so that one run
    uses one build even while others rebuild or clean the shared tree.
    Returns the directory (to be removed by the caller)."""
    src = os.path.join(ROOT, build)
    dst = tempfile.mkdtemp(prefix='uvstreams-bench-')
    for sub in ('lib', 'bench', 'python'):
        if os.path.isdir(os.path.join(src, sub)):
            shutil.copytree(os.path.join(src, sub), os.path.join(dst, sub),
                            symlinks=True,
                            ignore=shutil.ignore_patterns(
                                '*.a', 'profile', '__pycache__', '*.log',
                                'uvstreams_c_wrap.c'))
    os.makedirs(os.path.join(dst, 'examples'))
    server = os.path.join(src, 'examples', 'echo-server')
    if os.path.exists(server):
        shutil.copy2(server, os.path.join(dst, 'examples'))
    return dst


def lib_identity(bindir):
    """sha256 (first 16 hex digits) and mtime of the library measured."""
    import hashlib
    path = os.path.realpath(os.path.join(bindir, 'lib', 'libuvstreams.so'))
    try:
        with open(path, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path))
        return {'path': path, 'sha256': digest,
                'mtime': mtime.isoformat(timespec='seconds')}
    except OSError as e:
        return {'error': str(e)}


def first_touch_cost(bindir):
    """bench/fresh_pages' JSON (what the kernel's first touch of a user page
    costs on this machine, see bench/fresh_pages.c), or {'error': ...}."""
    prog = os.path.join(bindir, 'bench', 'fresh_pages')
    try:
        p = subprocess.run([prog], capture_output=True, text=True,
                           timeout=60)
        if p.returncode == 0:
            return json.loads(p.stdout)
        return {'error': (p.stderr or p.stdout).strip()}
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return {'error': str(e)}


def first_touch_note(ft):
    if 'error' in ft:
        return f'first-touch probe failed: {ft["error"]}'
    return (f'the kernel\'s first touch of a user page costs '
            f'{ft["first_touch_us_per_page"]:.2f} us here (a 100 KiB send '
            f'from new pages {ft["fresh_send_us"]:.0f} us, from warm ones '
            f'{ft["warm_send_us"]:.0f} us; bench/README.md)')


def check_uvstreams(env):
    """None if `import uvstreams, uvstreams.sync` works, else the reason."""
    try:
        p = subprocess.run([PYTHON, '-c', 'import uvstreams, uvstreams.sync'],
                           env=env, cwd=ROOT, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 'import uvstreams timed out'
    if p.returncode == 0:
        return None
    lines = p.stderr.decode(errors='replace').strip().splitlines()
    return ('import uvstreams failed: ' + (lines[-1] if lines else
                                           f'exit {p.returncode}'))


def check_uvloop():
    p = subprocess.run([PYTHON, '-c', 'import uvloop'], capture_output=True)
    return None if p.returncode == 0 else 'python3-uvloop is not installed'


def int_list(s):
    return [int(x) for x in s.split(',') if x]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='short run for CI (defaults below shrink; explicit '
                        'options still win)')
    p.add_argument('--build', default='build')
    p.add_argument('--out', default=None,
                   help='results directory (default bench/results, '
                        '--quick: bench/results/quick)')
    p.add_argument('--rounds', type=int)
    p.add_argument('--duration', type=float, help='measured seconds')
    p.add_argument('--warmup', type=float, help='warm-up seconds')
    p.add_argument('--sizes', type=int_list, help='message sizes, bytes')
    p.add_argument('--conns', type=int_list, help='connection counts')
    p.add_argument('--only', help='comma-separated server keys; "tls" '
                        'stands for every TLS row and the handshake row, '
                        '"handshake" for the handshake row')
    p.add_argument('--tls-sizes', type=int_list,
                   help='message sizes of the TLS rows (each also in '
                        '--sizes; default: all, --quick: the first)')
    p.add_argument('--tls-conns', type=int_list,
                   help='connection counts of the TLS rows (default: all, '
                        '--quick: the first)')
    p.add_argument('--no-tls', action='store_true', help='no TLS rows')
    p.add_argument('--scaling', type=int_list, default=[2],
                   help='I/O loop counts of the multi-loop rows '
                        '(c-threads-Nio; default 2: give more on bigger '
                        'machines, e.g. 2,4,8)')
    p.add_argument('--idle-conns', type=int)
    p.add_argument('--stream-bytes', type=int)
    p.add_argument('--no-idle', action='store_true')
    p.add_argument('--handshakes', type=int,
                   help='new TLS connections per stack in the handshake '
                        'row (default 300, --quick: 40)')
    p.add_argument('--no-handshake', action='store_true',
                   help='no handshake row (also implied by --no-tls)')
    p.add_argument('--no-stream', action='store_true')
    p.add_argument('--no-charts', action='store_true')
    p.add_argument('--no-snapshot', action='store_true',
                   help='run the programs in place instead of from a private '
                        'copy of the build (the copy keeps one library '
                        'version for the whole run while others rebuild)')
    p.add_argument('--extra', action='append', default=[],
                   metavar='KEY=COMMAND',
                   help='add a server row: COMMAND (split like a shell line, '
                        'run from the repository root) must print "serving '
                        'on HOST:PORT"; e.g. --extra "bare64=build/bench/'
                        'bare_echo --port 0 --bufsize 65536"; repeatable')
    p.add_argument('--list', action='store_true', help='list server keys')
    a = p.parse_args(argv)
    if a.quick:
        defaults = dict(rounds=1, duration=0.4, warmup=0.15,
                        sizes=[1 * KIB, 100 * KIB], conns=[10, 100],
                        idle_conns=1000, stream_bytes=64 << 20,
                        handshakes=40)
    else:
        defaults = dict(rounds=3, duration=2.0, warmup=0.5,
                        sizes=[1 * KIB, 10 * KIB, 100 * KIB], conns=[10, 100],
                        idle_conns=10000, stream_bytes=1 << 30,
                        handshakes=300)
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.tls_sizes is None:
        a.tls_sizes = a.sizes[:1] if a.quick else a.sizes
    if a.tls_conns is None:
        a.tls_conns = a.conns[:1] if a.quick else a.conns
    if a.out is None:
        a.out = os.path.join(HERE, 'results', 'quick' if a.quick else '')
    return a


# ---- history ------------------------------------------------------------------

# One line per run in <out>/history.tsv: the date, the run's shape and the
# key ratios (median over rounds, "10 conns/100 conns" where there are two;
# "-" where that run did not measure it). The full measurements of the last
# run only are kept, in latest.json.
HISTORY_COLUMNS = [
    ('c-cq/bare CPU 1K', 'c-cq: CPU/req vs bare libuv @ 1 KiB'),
    ('c-cq/bare CPU 100K', 'c-cq: CPU/req vs bare libuv @ 100 KiB'),
    ('c-threads/bare CPU 1K', 'c-threads: CPU/req vs bare libuv @ 1 KiB'),
    ('py-read/uvloop CPU 1K',
     'uvs-asyncio-read: CPU/req vs uvloop streams read @ 1 KiB'),
    ('py-read/uvloop CPU 100K',
     'uvs-asyncio-read: CPU/req vs uvloop streams read @ 100 KiB'),
    ('tls-c-cq/uvloop+ssl CPU 1K',
     'tls-c-cq: CPU/req vs uvloop+ssl streams read @ 1 KiB'),
    ('sync/threads req/s 1K',
     'uvs-sync: req/s vs plain-socket threads @ 1 KiB'),
    ('py idle RSS/uvloop',
     'uvs-asyncio-read: RSS per idle connection vs uvloop streams'),
    ('c-cq/bare GiB/s', 'c-cq: large transfer GiB/s vs bare libuv'),
]


def history_line(doc):
    """The history.tsv line for one run's JSON document."""
    meta = doc['meta']
    run_args = meta.get('args', {})
    by_name = {t['target']: t for t in doc.get('targets') or []}
    held = sum(1 for t in by_name.values() for v in t['values'].values()
               if v.get('holds'))
    cells = sum(len(t['values']) for t in by_name.values())
    fields = [meta['date'][:16],
              'quick' if run_args.get('quick') else
              f"{run_args.get('rounds', '?')} rounds",
              f'{held}/{cells}']
    for _, name in HISTORY_COLUMNS:
        values = by_name.get(name, {}).get('values', {})
        fields.append('/'.join(f"{v['value']:.2f}" for v in values.values()
                               if v.get('value') is not None) or '-')
    return '\t'.join(fields)


def append_history(out, doc):
    path = os.path.join(out, 'history.tsv')
    new = not os.path.exists(path)
    with open(path, 'a') as f:
        if new:
            f.write('\t'.join(['date', 'run', 'targets held'] +
                              [c for c, _ in HISTORY_COLUMNS]) + '\n')
        f.write(history_line(doc) + '\n')
    return path


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.bindir = os.path.join(ROOT, args.build)
    tls_dir = tempfile.mkdtemp(prefix='uvstreams-bench-tls-')
    atexit.register(shutil.rmtree, tls_dir, True)
    servers = make_servers(args.bindir, tls_dir, args.scaling)
    if args.list:
        for s in servers:
            print(f'{s.key:22s} {s.label}')
        return 0
    if args.no_tls:
        servers = [s for s in servers if not s.tls]
    if args.only:
        keep = set(args.only.split(','))
        if 'tls' in keep:
            keep = (keep - {'tls'}) | set(TLS_KEYS) | {'handshake'}
        args.handshake_only = 'handshake' in keep
        keep.discard('handshake')
        unknown = keep - {s.key for s in servers}
        if unknown:
            log(f'unknown server key(s): {", ".join(sorted(unknown))} '
                '(see --list)')
            return 2
        servers = [s for s in servers if s.key in keep]
    for extra in args.extra:
        key, sep, cmd = extra.partition('=')
        if not sep or not key or not shlex.split(cmd):
            log(f'--extra wants KEY=COMMAND, got {extra!r}')
            return 2
        servers.append(Server(key, f'{key} (extra)', 'other',
                              shlex.split(cmd)))
    # 10,000 idle connections: the children inherit the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_conns + 100:
        log(f'warning: descriptor limit {hard} < {args.idle_conns} idle '
            'connections + margin')

    if not args.no_snapshot:
        try:
            args.bindir = snapshot_build(args.build)
        except OSError as e:
            log(f'cannot copy the build for the run: {e}')
            return 1
        atexit.register(shutil.rmtree, args.bindir, True)
        fresh = {s.key: s for s in make_servers(args.bindir, tls_dir, args.scaling)}
        builtin = set(fresh)
        for s in servers:
            if s.key in builtin:
                s.argv = fresh[s.key].argv
    bench = Bench(args)
    for path in [bench.loadgen] + [s.argv[0] for s in servers
                                   if not s.python]:
        if '/' not in path:
            path = shutil.which(path) or path
        if not os.access(os.path.join(ROOT, path), os.X_OK):
            log(f'missing {path}: run `make -f Makefile -f bench/rules.mk '
                'bench` (it builds everything first)')
            return 1
    uvs_reason = check_uvstreams(bench.env)
    uvloop_reason = check_uvloop()
    tls_reason = (make_certificate(tls_dir) if any(s.tls for s in servers)
                  else None)
    for s in servers:
        if s.uvstreams and uvs_reason:
            s.unavailable = uvs_reason
        elif 'uvloop' in s.argv and uvloop_reason:
            s.unavailable = uvloop_reason
        elif s.tls and tls_reason:
            s.unavailable = tls_reason
    avail_note = None
    if uvs_reason:
        avail_note = (f'uvstreams Python rows UNAVAILABLE: {uvs_reason} '
                      '(build the binding with `make python`)')
        log(avail_note)
    active = [s for s in servers if not s.unavailable]

    first_touch = first_touch_cost(args.bindir)
    started = time.time()
    load0 = os.getloadavg()
    log(f'bench: {len(active)} servers, sizes {args.sizes}, conns '
        f'{args.conns}, {args.rounds} round(s) of {args.duration} s '
        f'(+{args.warmup} s warm-up); load average {load0[0]:.2f}')
    for rnd in range(args.rounds):
        for size in args.sizes:
            for conns in args.conns:
                log(f'round {rnd + 1}/{args.rounds}: {size // KIB} KiB x '
                    f'{conns} connections')
                for s in active:
                    if s.runs_at(size, conns, args):
                        bench.pingpong(s, rnd, size, conns)
        if not args.no_stream:
            log(f'round {rnd + 1}/{args.rounds}: large transfer')
            for s in active:
                if s.key in STREAM_KEYS:
                    bench.stream(s, rnd)
        if not args.no_idle:
            log(f'round {rnd + 1}/{args.rounds}: {args.idle_conns} idle '
                'connections')
            for s in active:
                if s.key in IDLE_KEYS:
                    bench.idle(s, rnd)
    handshakes = None
    if not (args.no_handshake or args.no_tls or (
            args.only and not args.handshake_only)):
        log(f'handshake row: {args.handshakes} new TLS connections per stack')
        handshakes = handshake.run_all(args.handshakes, env=bench.env)
        for stack, r in handshakes.items():
            if 'error' in r and not (stack == 'uvstreams' and uvs_reason):
                bench.failures.append(f'handshake {stack}: {r["error"]}')
    elapsed = time.time() - started
    load1 = os.getloadavg()

    summary = summarize(bench.runs, servers, args)
    if args.no_stream:
        summary['stream'] = {}
    if args.no_idle:
        summary['idle'] = {}
    tgts = targets(summary, servers, args)
    print_tables(summary, tgts, servers, args, avail_note)
    if handshakes is not None:
        print()
        handshake.print_table(handshakes)

    others = [r['other_cpu_cores'] for r in bench.runs
              if r.get('ok') and r.get('other_cpu_cores') is not None]
    busy_note = None
    if others:
        busy_note = (f'other processes used {statistics.median(others):.2f} '
                     f'cores (median; max {max(others):.2f}) during the '
                     f'measurements; load average {load0[0]:.2f} -> '
                     f'{load1[0]:.2f}')
        print()
        print(f'machine: {busy_note}')
    print(f'machine: {first_touch_note(first_touch)}')

    os.makedirs(args.out, exist_ok=True)
    doc = {
        'meta': {
            'date': datetime.datetime.now().isoformat(timespec='seconds'),
            'host': platform.node(), 'kernel': platform.release(),
            'cpus': os.cpu_count(), 'python': platform.python_version(),
            'args': {k: v for k, v in vars(args).items()},
            'library': lib_identity(args.bindir),
            'elapsed_s': round(elapsed, 1), 'loadavg_start': load0,
            'loadavg_end': load1, 'other_load': busy_note,
            'first_touch': first_touch,
            'unavailable': {s.key: s.unavailable for s in servers
                            if s.unavailable},
            'servers': {s.key: {'label': s.label, 'argv': s.argv}
                        for s in servers},
        },
        'summary': summary, 'targets': tgts, 'runs': bench.runs,
        'handshake': handshakes,
        'failures': bench.failures, 'warnings': bench.warnings,
    }
    path = os.path.join(args.out, 'latest.json')
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
    history = append_history(args.out, doc)
    print()
    print(f'raw results: {os.path.relpath(path, ROOT)} (replacing the last '
          f'run\'s); key ratios added to {os.path.relpath(history, ROOT)}')
    if not args.no_charts:
        try:
            for c in charts(summary, servers, args, args.out):
                print(f'chart: {os.path.relpath(c, ROOT)}')
        except ImportError as e:
            log(f'charts skipped: {e} (apt-get install python3-matplotlib)')
            bench.failures.append(f'charts: {e}')
    print(f'total time: {elapsed:.0f} s')
    for w in bench.warnings:
        log(f'warning: {w}')
    if bench.failures:
        log('')
        log(f'bench FAILED: {len(bench.failures)} measurement(s) failed:')
        for f in bench.failures:
            log(f'  - {f}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())

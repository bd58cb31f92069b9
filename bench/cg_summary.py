"""Per-request summary of a callgrind profile, by function.

    /usr/bin/python3 bench/cg_summary.py PROFILE REQUESTS [TOP]

callgrind_annotate splits a function's cost by source file when code is
inlined from headers (shared_ptr, mutex...); this adds those parts up per
function and divides by the request count. Exclusive (self) cost first,
then inclusive cost for the functions of the C API (uvs_*) and the engine.
"""
import collections
import re
import subprocess
import sys

LINE = re.compile(r'^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?$')


def table(profile, inclusive):
    out = subprocess.run(
        ['callgrind_annotate', '--auto=no', '--threshold=100',
         f'--inclusive={"yes" if inclusive else "no"}', profile],
        capture_output=True, text=True, check=True).stdout
    body = out.split('file:function', 1)[1]
    costs = collections.Counter()
    for line in body.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        n = int(m.group(1).replace(',', ''))
        where = m.group(2)
        fn = where.split(':', 1)[1] if ':' in where else where
        if inclusive:
            costs[fn] = max(costs[fn], n)  # same function, several files
        else:
            costs[fn] += n
    return costs


def main():
    profile, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    total = int(re.search(r'([\d,]+) \(100.0%\)\s+PROGRAM TOTALS',
                          subprocess.run(['callgrind_annotate', '--auto=no',
                                          profile], capture_output=True,
                                         text=True).stdout)
                .group(1).replace(',', ''))
    print(f'user-space instructions per request: {total / requests:,.0f}')
    excl = table(profile, False)
    # Frames that only carry the program total after a zeroing are noise.
    for k in [k for k, v in excl.items() if v >= total]:
        del excl[k]
    print(f'\n-- exclusive, instructions per request (top {top}) --')
    for fn, n in excl.most_common(top):
        print(f'{n / requests:10,.0f}  {n * 100 / total:5.1f}%  {fn[:110]}')
    incl = table(profile, True)
    print(f'\n-- inclusive, C API and engine functions (top {top}) --')
    shown = 0
    for fn, n in incl.most_common():
        if n >= total:
            continue
        if fn.startswith(('uvs_', 'uvs::', 'conn_', 'on_', 'dispatch',
                          'drain_cq', 'poll_once', 'uv_', 'std::shared_ptr<uvs')):
            print(f'{n / requests:10,.0f}  {n * 100 / total:5.1f}%  {fn[:110]}')
            shown += 1
            if shown >= top:
                break


if __name__ == '__main__':
    main()

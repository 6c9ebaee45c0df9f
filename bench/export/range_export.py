"""Range export the way a user would script it with requests + csv: the same
chunks as promgate (points per request), one request at a time, CSV columns
name,timestamp,value,<sorted label names of the first chunk>.

Usage: range_export.py BASE_URL QUERY START END STEP POINTS  (seconds)
"""
import csv
import sys

import requests

base, query = sys.argv[1], sys.argv[2]
start, end, step, points = (int(a) for a in sys.argv[3:7])

session = requests.Session()
writer = csv.writer(sys.stdout)
header = None
t = start
while t <= end:
    e = min(t + (points - 1) * step, end)
    response = session.get(base + '/api/v1/query_range',
                           params={'query': query, 'start': t, 'end': e, 'step': step})
    response.raise_for_status()
    results = response.json()['data']['result']
    if header is None:
        names = set()
        for result in results:
            names.update(result['metric'].keys())
        names.discard('__name__')
        header = sorted(names)
        writer.writerow(['name', 'timestamp', 'value'] + header)
    for result in results:
        metric = result['metric']
        name = metric.get('__name__', '')
        labelvalues = [metric.get(label, '') for label in header]
        for ts, value in result['values']:
            writer.writerow([name, ts, value] + labelvalues)
    t = e + step

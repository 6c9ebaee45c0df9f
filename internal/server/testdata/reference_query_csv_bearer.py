import csv
import requests
import sys

"""
A simple program to print the result of a Prometheus query as CSV.
"""

if len(sys.argv) != 2:
    print('Usage: {0} promQL'.format(sys.argv[0]))
    sys.exit(1)

response = requests.get(__import__('os').environ['PROMGATE_URL'] + '/api/v1/query'.format(sys.argv[1]),
        headers={'Authorization': 'Bearer ' + __import__('os').environ['PROMGATE_TOKEN']},
        params={'query': sys.argv[1]})
results = response.json()['data']['result']

# Create list of all label names
labelnames = set()
for result in results:
      labelnames.update(result['metric'].keys())

# remove redundant __name__ label
labelnames.discard('__name__')
labelnames = sorted(labelnames)

writer = csv.writer(sys.stdout)
# Write the column headers
writer.writerow(['name', 'timestamp', 'value'] + labelnames)

# Write the results
for result in results:
    l = [result['metric'].get('__name__', '')] + result['value']
    for label in labelnames:
        l.append(result['metric'].get(label, ''))
    writer.writerow(l)



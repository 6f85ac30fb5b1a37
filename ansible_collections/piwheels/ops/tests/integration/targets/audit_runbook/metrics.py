"""Print the audit runbook's metrics file as JSON {name or name{kind}: value}, read with prometheus-client's parser
(the format node_exporter's textfile collector reads); fails on anything it cannot parse."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as stream:
    families = text_string_to_metric_families(stream.read())
    print(json.dumps({
        sample.name + (f"{{{sample.labels['kind']}}}" if "kind" in sample.labels else ""): sample.value
        for family in families for sample in family.samples
    }))

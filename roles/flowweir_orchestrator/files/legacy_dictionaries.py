"""Print flowweir's legacy ClickHouse dictionary files as JSON {file name: content}, for a server
whose dictionaries_config directory is argv[1] and whose flowweir database is argv[2]. The
orchestrator writes the same files when it runs on the ClickHouse host; the Ansible role copies
these to every ClickHouse host instead, so that the orchestrator may run elsewhere."""

import json
import sys
from pathlib import Path

from collector.schema.dictionaries import DICTIONARIES
from collector.schema.migrate import _legacy_dictionary_xml

directory, database = Path(sys.argv[1]), sys.argv[2]
files = {}
for spec in DICTIONARIES:
    csv_path = directory / f"{database}_{spec.name}.csv"
    files[csv_path.name] = spec.csv()
    xml = _legacy_dictionary_xml(f"{database}.{spec.name}", spec, csv_path)
    files[f"{database}_{spec.name}_dictionary.xml"] = xml
json.dump(files, sys.stdout)

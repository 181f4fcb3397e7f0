"""Print flowweir's legacy ClickHouse dictionary files as JSON {file name: content}, for a server
whose dictionaries_config directory is argv[1] and whose flowweir database is argv[2]. The
orchestrator writes the same files when it runs on the ClickHouse host; the Ansible role copies
these to every ClickHouse host instead, so that the orchestrator may run elsewhere."""

import json
import sys
from pathlib import Path

from collector.schema.dictionaries import DICTIONARIES
from collector.schema.migrate import legacy_dictionary_files

directory, database = Path(sys.argv[1]), sys.argv[2]
files = legacy_dictionary_files(directory, database, DICTIONARIES)
json.dump({path.name: text for path, text in files}, sys.stdout)

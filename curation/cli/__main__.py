from curation.cli import entry

entry()

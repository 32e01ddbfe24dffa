"""`optisim parity check`: replay a recording of the real service (made by `optisim
proxy`) against a fresh optisim tenant and list where optisim answers differently.
replay.py replays (control calls through the control client), compare.py normalises and
compares (pure), output.py writes the table, HTML, JSON and JUnit XML, command.py the
click command."""

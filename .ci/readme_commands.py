"""Print the README's set-up commands: the lines of its first ```bash block, as written.

CI runs each line literally (``bash -c``), so the README's commands are the ones proven."""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"^```bash\n(.*?)^```", text, re.S | re.M)
if block is None:
    sys.exit("README has no ```bash block of set-up commands")
lines = [line for line in block.group(1).splitlines() if line.strip()]
if len(lines) < 2:
    sys.exit(f"README's set-up block has {len(lines)} command(s), expected two")
print("\n".join(lines))

"""Print the node ids of the tests a JUnit XML report (pytest --junitxml) records as skipped,
one per line, so CI can run them again once the optional extras are installed."""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def node_id(classname, name):
    """``tests.sub.test_x.TestC`` + ``test_m[1]`` -> ``tests/sub/test_x.py::TestC::test_m[1]``;
    a module skipped at collection has no classname and its dotted path as the name."""
    parts = (classname or name).split(".")
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if path.is_file():
            rest = parts[cut:] + ([name] if classname else [])
            return "::".join([path.as_posix(), *rest])
    raise SystemExit(f"cannot find the file of {classname!r} {name!r}")


for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if case.find("skipped") is not None:
        print(node_id(case.get("classname"), case.get("name")))

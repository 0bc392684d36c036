"""A JUnit XML report of outcomes, as CI servers (GitHub Actions, GitLab CI,
Jenkins) display test results."""

import re
import sys
import xml.etree.ElementTree as ET

NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_tree(outcomes, seconds):
    """An ElementTree: one testsuite `ia32k`, one testcase per outcome
    (classname the program's path, name its file and mode), a <failure>
    holding the failure texts, and the run's stdout and stderr."""
    failed = sum(not o.passed for o in outcomes)
    suites = ET.Element("testsuites", tests=str(len(outcomes)),
                        failures=str(failed), time=f"{seconds:.3f}")
    suite = ET.SubElement(suites, "testsuite", name="ia32k",
                          tests=str(len(outcomes)), failures=str(failed),
                          errors="0", skipped="0", time=f"{seconds:.3f}")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=str(o.case.path),
                             name=o.case.name, time=f"{o.seconds:.3f}")
        if not o.passed:
            ET.SubElement(case, "failure", message=clean(
                o.failures[0].splitlines()[0])).text = clean("\n".join(o.failures))
        ET.SubElement(case, "system-out").text = clean(o.stdout)
        ET.SubElement(case, "system-err").text = clean(o.stderr)
    return ET.ElementTree(suites)


def write_junit(outcomes, seconds, path):
    """Write the report to path ('-': stdout)."""
    tree = junit_tree(outcomes, seconds)
    ET.indent(tree)
    if path == "-":
        tree.write(sys.stdout, encoding="unicode", xml_declaration=True)
        print()
    else:
        tree.write(path, encoding="utf-8", xml_declaration=True)


def clean(text):
    """text without the characters XML 1.0 cannot hold (a program may
    write any byte)."""
    return NOT_XML.sub("\ufffd", text)

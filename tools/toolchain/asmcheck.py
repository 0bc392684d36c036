"""What keystone does not say: the lines it would assemble wrongly without
an error (unbalanced brackets, an operand that ends in an operator), the
lines it drops without an error when more lines follow (an operand it
cannot parse, such as AT&T's `$1` or `%eax`), and a hint naming the
dialect it expects when a line fails."""

import re

from keystone import KS_ERR_ASM_SYMBOL_MISSING, KsError

DIALECT = "ia32k assembles Intel syntax with '#' comments"
_LABELS = re.compile(r"^\s*(?:[A-Za-z_.$][\w.$]*\s*:\s*)*")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'')
_TRAILING = ("+", "-", "*", ",", "[", "(")
_NASM = re.compile(r"^\s*(section|segment|global|extern|bits|org)\b",
                   re.IGNORECASE)
_ATT = re.compile(r"%[a-z]{2,3}\b|\$-?\w")


def check_source(ks, lines, base):
    """'file:line: why in: text (hint)' for the first line of the program
    (not of the generated constants) that keystone would mis-assemble or
    drop silently, or None. Each line is assembled alone too: a symbol
    defined elsewhere is fine, any other error is the line's own. Macro
    definitions and the lines that use a macro are checked as a whole
    only."""
    macros, in_macro = set(), False
    for f, n, t in lines:
        words = _LABELS.sub("", code_part(t), count=1).split()
        if words[:1] == [".macro"]:
            macros.add(words[1].rstrip(",") if len(words) > 1 else "")
        in_macro = (in_macro or words[:1] == [".macro"]) and \
            words[:1] != [".endm"]
        if f.startswith("<"):
            continue
        why = check_line(t)
        if why is None and words and not in_macro and \
                words[0] not in macros | {".endm"}:
            why = _alone(ks, t, base)
        if why:
            return f"{f}:{n}: {why} in: {t.strip()} ({hint(t)})"
    return None


def _alone(ks, text, base):
    try:
        ks.asm(text + "\n", base)
    except KsError as e:
        if e.errno != KS_ERR_ASM_SYMBOL_MISSING:
            return str(e)
    return None


def code_part(text):
    """A line without its strings and its '#' comment."""
    return _STRINGS.sub('""', text).split("#", 1)[0]


def check_line(text):
    """Why keystone would mis-assemble this line silently, or None."""
    code = code_part(text).rstrip()
    if code.count("[") != code.count("]"):
        return "unbalanced brackets"
    if code.count("(") != code.count(")"):
        return "unbalanced parentheses"
    if code.endswith(_TRAILING) and not code.endswith(":"):
        return f"the line ends in {code[-1]!r}: an operand is missing"
    return None


def hint(text):
    """The dialect hint for a line keystone refused."""
    code = code_part(text)
    if ";" in code:
        return f"{DIALECT}; ';' separates instructions, it starts no comment"
    if _NASM.match(code):
        return (f"{DIALECT}; NASM directives (section, global, bits) are "
                "not accepted: the program starts at its first line")
    if _ATT.search(code):
        return f"{DIALECT}, not AT&T ('mov eax, 1', not 'movl $1, %eax')"
    return DIALECT

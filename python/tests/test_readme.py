"""The README's Python example runs as printed."""

import contextlib
import io
import pathlib
import re
import warnings

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "one Python example in the README"
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        exec(compile(blocks[0], "README.md", "exec"), {})
    accuracy = float(re.fullmatch(r"test accuracy (\d\.\d+)\n", out.getvalue()).group(1))
    assert accuracy > 0.95

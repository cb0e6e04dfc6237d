// CPython 3.14, Lambda's runtime, run here as Pyodide (CPython built for WebAssembly, from npm): there is no
// native Python 3.14 on this machine. Compiling needs nothing that differs between the two: bytecode's format is
// that of the interpreter's version, which its magic number names, whatever the platform (marshal's format is
// machine-independent: https://docs.python.org/3/library/marshal.html).
//
// Runs the Python code given on stdin, with the directory named by the first argument mounted at /host, and
// prints what the code's last expression evaluates to (a str).
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

const code = readFileSync(0, "utf8");
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/host");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: process.argv[2] }, "/host");
console.log(pyodide.runPython(code));

# Sourced (not run) by the scripts that run Python: scripts/deps, demo, test,
# sanitize-bindings, bindings-python/run-tests, bench/run.
#
#   . scripts/python-env.sh && mutls_python_env ROOT
#
# Sets `python` to the interpreter mutls is built and tested with, exports
# VIRTUAL_ENV and puts its bin/ first on PATH (so a `python3` or `mutls`
# started by a test is the same one). Which interpreter:
#   1. $PYTHON when set: used as it is (its packages are the caller's job);
#   2. else the virtual environment already active ($VIRTUAL_ENV);
#   3. else the project venv ROOT/.venv, which scripts/deps creates with
#      `python3 -m venv` from the python3 first on PATH (Debian's
#      /usr/bin/python3 on a fresh machine; a pyenv build where that is
#      first) and fills with the test tools and the binding.
# Why a venv: Debian's python3 is externally managed (PEP 668), so pip may
# not install into it, and pytest, mypy, trustme and a current setuptools
# are not all Debian packages on both releases. See docs/development.md.

# mutls_python_env ROOT: sets python, VIRTUAL_ENV and PATH as above. The
# venv need not exist yet (scripts/deps makes it).
mutls_python_env() {
	local root=$1
	if [[ -n ${PYTHON:-} ]]; then
		python=$PYTHON
		return 0
	fi
	if [[ -n ${VIRTUAL_ENV:-} && -x $VIRTUAL_ENV/bin/python ]]; then
		:
	else
		VIRTUAL_ENV=$root/.venv
	fi
	export VIRTUAL_ENV
	case ":$PATH:" in
		*":$VIRTUAL_ENV/bin:"*) ;;
		*) PATH=$VIRTUAL_ENV/bin:$PATH ;;
	esac
	export PATH
	unset PYTHONHOME
	python=$VIRTUAL_ENV/bin/python
}

"""Many workers on one account, through Redis.

Everything here is reached only when a client or a journal is given a Redis: the
connection (`_conn`), the rate gate every worker of an account passes
(`_gate`, its Lua in `_gate_lua`), and the batch journal they share
(`_journal`, its Lua in `_journal_lua`). The pace's rules live in `_pacing`,
outside: the Lua follows them, and tests/test_gate_differential.py checks both
give the same answers.
"""

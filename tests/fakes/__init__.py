"""Real servers on 127.0.0.1 standing in for what cannot run here.

Platform APIs, a flaky network, webhook receivers.
"""

"""Trainers: ``ppo``, ``sac``, ``apg`` (analytic policy gradients), ``es`` (evolution strategies).

Each module has a ``Config`` (``Config.for_env(name)`` for tuned defaults) and
``train(env, config) -> (make_policy, params, metrics)``; ``checkpoint`` loads
trained policies back (``load_policy(run_dir) -> (env, policy)``). Import the
modules you need (``from tumble.train import ppo``): importing this package
loads no trainer.
"""

"""RL Zoo 3 hyperparameters: PPO-GNN + root on edge_rl/IoTEdge-v0 (see edge_rl/zoo/__init__.py).

python -m rl_zoo3.train --algo ppo --env edge_rl/IoTEdge-v0 --gym-packages edge_rl -conf edge_rl/zoo/ppo.py
"""

from edge_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("ppo")

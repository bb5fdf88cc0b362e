"""RL Zoo 3 hyperparameters: DQN-GNN + root on edge_rl/IoTEdge-v0 (see edge_rl/zoo/__init__.py).

python -m rl_zoo3.train --algo dqn --env edge_rl/IoTEdge-v0 --gym-packages edge_rl -conf edge_rl/zoo/dqn.py
"""

from edge_rl.zoo import hyperparams_for

hyperparams = hyperparams_for("dqn")

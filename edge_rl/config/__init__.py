"""Every configuration, frozen and validated: the environment's (:mod:`~edge_rl.config.env`: the
network, its load, the tasks, the reward; every default of the simulator) and training's
(:mod:`~edge_rl.config.train`: the encoder, DQN, PPO, the hybrid, a run), with what each
algorithm reads of a run's (:mod:`~edge_rl.config.algorithms`). Each error names the field and
what it accepts. Nothing here imports torch."""

from edge_rl.checks import from_dict
from edge_rl.config.algorithms import AlgorithmSpec, algorithm_spec, unread_setting
from edge_rl.config.env import (
                                MAX_BACKGROUND_RATE,
                                MAX_ENV_NODES,
                                MAX_WARMUP_STEPS,
                                NODE_FEATURES,
                                NODE_TYPES,
                                TASK_FEATURES,
                                EnvConfig,
                                LinkSpec,
                                NodeTypeSpec,
)
from edge_rl.config.train import (
                                FUSION_SETTING,
                                MAX_BATCH_SIZE,
                                MAX_BUFFER,
                                MAX_ENVS,
                                MAX_GAT_HEADS,
                                MAX_LAYERS,
                                MAX_THREADS,
                                MAX_WIDTH,
                                POLICIES,
                                ROOT_PATHS,
                                DQNConfig,
                                EncoderConfig,
                                HybridConfig,
                                PPOConfig,
                                TrainConfig,
)

__all__ = ["FUSION_SETTING", "MAX_BACKGROUND_RATE", "MAX_BATCH_SIZE", "MAX_BUFFER", "MAX_ENVS", "MAX_ENV_NODES",
           "MAX_GAT_HEADS", "MAX_LAYERS", "MAX_THREADS", "MAX_WARMUP_STEPS", "MAX_WIDTH", "NODE_FEATURES", "NODE_TYPES",
           "POLICIES", "ROOT_PATHS", "TASK_FEATURES", "AlgorithmSpec", "DQNConfig", "EncoderConfig", "EnvConfig",
           "HybridConfig", "LinkSpec", "NodeTypeSpec", "PPOConfig", "TrainConfig", "algorithm_spec", "from_dict",
           "unread_setting"]

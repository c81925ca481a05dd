"""The CTI gateway over NATS JetStream (``cti-fsm gateway --config FILE``).

A gateway hosts many agents of one tenant and vendor (``config``); each agent's
notifications go to JetStream with its snapshot and a sequence number, its state to a
key-value bucket, its commands come by request/reply (``wire``: subjects and messages).
Several gateways share the agents by leases in the bucket (``leases``) and take over a
dead one's (``service``). Business services reach the agents with ``cti_fsm.remote``.
"""

from .config import AgentConfig, GatewayConfig, load_config
from .service import Gateway, GatewayHealth

__all__ = ["AgentConfig", "Gateway", "GatewayConfig", "GatewayHealth", "load_config"]

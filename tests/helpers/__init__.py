"""Test helpers, one job a module; everything is importable from here too (`from helpers import ServerProcess`).

- servers: a real `facegrid serve` process (`running_server` for a module's one server) and `make_keys`
- commands: the `facegrid` command run as a user would (`facegrid`, `last_json`)
- redis_servers: a real redis-server, a real Redis Cluster
- ports: free loopback ports
- data: the real photos and recordings of ../shared/data, skipping with the reason where absent
- door: a real MQTT broker and webhook receiver for the door
- browser: headless chromium through chromium-driver for the console's tests
- waiting: `eventually`, polling for what the server writes in the background
- precision: how close vectors of one model must agree (f32, or bf16 where auto chose it)
- checkpoints: torch checkpoints in the formats operators have; pki: test certificates
"""

from .browser import LAPTOP, PHONE, at_size, chromium, chromium_or_skip, not_blank
from .checkpoints import (
    save_openai_torchscript,
    save_openclip_state_dict,
    save_torchvision_state_dict,
)
from .commands import facegrid, last_json
from .data import faces_dir_or_skip, pad_video
from .door import Mosquitto, Subscription, WebhookReceiver
from .pki import make_test_pki
from .precision import vector_tolerance
from .ports import free_port, port_free, server_port
from .redis_servers import RedisClusterProcesses, RedisServer
from .servers import ServerProcess, make_keys, running_server
from .waiting import eventually

__all__ = [
    "LAPTOP", "PHONE", "vector_tolerance", "at_size", "chromium", "eventually", "chromium_or_skip", "not_blank",
    "Mosquitto", "Subscription", "WebhookReceiver", "RedisClusterProcesses", "RedisServer", "ServerProcess", "faces_dir_or_skip", "facegrid", "free_port", "last_json",
    "make_keys", "make_test_pki", "pad_video", "port_free", "running_server", "save_openai_torchscript",
    "save_openclip_state_dict", "save_torchvision_state_dict", "server_port",
]

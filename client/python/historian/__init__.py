"""historian: a pandas client for historiand (docs/python.md).

    import historian
    h = historian.connect("us-host:7400,mx-host:7400", token="...")
    df = h.read("us.line1.*", "-1h", "now")
"""

from historian._channels import TLS
from historian._write import WriteResult
from historian.client import Client, connect
from historian.errors import HistorianError, WriteRejected

__version__ = "0.1.0"
__all__ = ["Client", "HistorianError", "TLS", "WriteRejected", "WriteResult", "connect"]

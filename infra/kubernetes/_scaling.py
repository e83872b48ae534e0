"""How each stage scales: consumer stages on their JetStream consumer's lag (KEDA), ingest on CPU.

KEDA's ``nats-jetstream`` scaler reads the consumer's pending plus unacknowledged messages from the
NATS monitoring endpoint and asks for ``lag / lagThreshold`` replicas. A replica working at capacity
holds up to MAX_IN_FLIGHT unacknowledged messages, so the threshold must exceed it, or a stage that
keeps up would still climb to its maximum.
"""

from __future__ import annotations

import schemas
from infra.kubernetes import _nats
from infra.kubernetes._stages import Stage
from infra.kubernetes._values import Values
from infra.kubernetes._workloads import Manifest, metadata, name_of


def _target(values: Values, stage: Stage) -> dict[str, str]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": name_of(values, stage)}


def scaled_object(values: Values, stage: Stage) -> Manifest:
    if stage.consumer is None:
        raise ValueError(f"{stage.name} has no consumer to scale on")
    scaling = values.stages[stage.name].scaling
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": {
            "scaleTargetRef": _target(values, stage),
            "pollingInterval": scaling.polling_interval,
            "cooldownPeriod": scaling.cooldown_period,
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "triggers": [
                {
                    "type": "nats-jetstream",
                    # KEDA reads trigger metadata as strings only.
                    "metadata": {
                        "natsServerMonitoringEndpoint": _nats.monitoring_endpoint(values),
                        "account": values.nats.account,
                        "stream": schemas.STREAM,
                        "consumer": stage.consumer,
                        "lagThreshold": str(scaling.lag_threshold),
                        "activationLagThreshold": str(scaling.activation_lag_threshold),
                        "useHttps": "false",
                    },
                }
            ],
        },
    }


def cpu_autoscaler(values: Values, stage: Stage) -> Manifest:
    scaling = values.stages[stage.name].scaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": {
            "scaleTargetRef": _target(values, stage),
            "minReplicas": max(1, scaling.min_replicas),
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaling.cpu_utilization},
                    },
                }
            ],
        },
    }

"""The harvest flow with its set tasks on Dask: the entrypoint of a deployment made with
``repec-harvest schedule --dask`` or ``deploy --dask`` (the ``[dask]`` extra). Where the tasks
run is read from the run's environment, ``REPEC_HARVEST_DASK``: a scheduler's address
(``tcp://host:8786``) or a number of local worker processes (default 4)."""

from __future__ import annotations

import os

from flows.harvest_flow import DASK_ENV, dask_runner, harvest_flow

harvest_on_dask = harvest_flow.with_options(task_runner=dask_runner(os.environ.get(DASK_ENV)))

"""Software-defined assets, by use case; each module's keys are ``[layer, table]``."""

"""Neural knowledge distillation: several teacher MLMs -> one compact student MLM."""

"""Which finetuned IBD ensemble the downstream stages (attribution, embedding) use.

finetune.downstream_ensemble = trained (default): the protocol-C members this workflow trains,
saved by the protocol-C rule (rules/evaluate.smk) as directory() outputs
finetune/C/IBD/models/member<k>, k = 1..finetune.members. published: the Dryad ensemble.zip
folders, as rules/common.smk defines them. Each member folder is a checkpoint directory
(model/checkpoint.py) with its trained CLS row in the token table.
"""

FINETUNE = config["finetune"]


def protocol_c_member_dirs():
    """Checkpoint folders of the protocol-C ensemble members (whatever the downstream choice)."""
    return [
        f"{OUT}/finetune/C/IBD/models/member{k}"
        for k in range(1, FINETUNE["members"] + 1)
    ]


if FINETUNE["downstream_ensemble"] == "trained":

    def ensemble_member_dirs():
        """The protocol-C members (overrides the published folders of rules/common.smk)."""
        return protocol_c_member_dirs()

    def ensemble_member_inputs():
        """The member folders themselves: they are directory() outputs of one rule."""
        return protocol_c_member_dirs()

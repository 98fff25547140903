"""The domain lexicon: what words mean in an ML team's chat, applied alike to catalogue and questions.

Kept as data (no logic) so adding an abbreviation is one line.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Multi-word or punctuated forms, rewritten on the lower-cased text before it is split into words.
PHRASES: dict[str, str] = {
    "ci/cd": "ci cd",
    "ci-cd": "ci cd",
    "cicd": "ci cd",
    "a/b": "ab",
    "e2e": "end to end",
    "end-to-end": "end to end",
    "stand-up": "standup",
    "stand up": "standup",
    "stand-ups": "standups",
    "stand ups": "standups",
    "on-prem": "on prem",
    "onprem": "on prem",
    "on-premises": "on prem",
    "on premises": "on prem",
    "on-premise": "on prem",
    "on premise": "on prem",
    "re-train": "retrain",
    "re-training": "retraining",
    "re-trained": "retrained",
    "ml ops": "mlops",
    "ml-ops": "mlops",
    "dev ops": "devops",
    "dev-ops": "devops",
    "power-bi": "powerbi",
    "power bi": "powerbi",
    "git hub": "github",
    "k8s": "kubernetes",
    "infra-as-code": "iac",
    "infrastructure-as-code": "infrastructure as code",
    "unit-test": "unit test",
    "unit-tests": "unit tests",
    "hyper-parameter": "hyperparameter",
    "hyper-parameters": "hyperparameters",
    "scrum-master": "scrum master",
    "road-block": "roadblock",
    "data-drift": "data drift",
    "set-up": "setup",
    "sign-off": "signoff",
    "go-live": "go live",
    "look-back": "retrospective",
    "look back session": "retrospective",
    "open-source": "library",
    "open source": "library",
}

# Single words that stand for something longer (abbreviations and chat shorthand).
EXPANSIONS: dict[str, str] = {
    "iac": "infrastructure as code",
    "repo": "repository",
    "repos": "repositories",
    "env": "environment",
    "envs": "environments",
    "infra": "infrastructure",
    "config": "configuration",
    "configs": "configurations",
    "perf": "performance",
    "prod": "production",
    "mgmt": "management",
    "dq": "data quality",
    "eda": "exploratory data analysis",
    "pbi": "powerbi",
    "viz": "visualization",
    "dataviz": "data visualization",
    "vis": "visualization",
    "deps": "dependencies",
    "dep": "dependency",
    "libs": "libraries",
    "fwk": "framework",
    "fwks": "frameworks",
    "acs": "acceptance criteria",
    "lib": "library",
    "docs": "documents",
    "doc": "document",
    "reqs": "requirements",
    "req": "requirement",
    "aml": "azure ml",
    "adf": "azure data factory",
    "gh": "github",
    "ado": "azure devops",
    "uat": "user acceptance testing",
    "hparams": "hyperparameters",
    "hyperparams": "hyperparameters",
    "exp": "experiment",
    "exps": "experiments",
    "ds": "data scientist",
    "de": "data engineering",
    "sre": "site reliability engineer",
    "sa": "solution architect",
    "retro": "retrospective",
    "retros": "retrospectives",
    "qa": "quality assurance",
    "qe": "quality engineering",
    "po": "product owner",
    "ba": "business analyst",
    "sm": "scrum master",
    "pm": "project manager",
    "vnet": "virtual network",
    "vm": "virtual machine",
    "vms": "virtual machines",
    "etl": "etl",
    "kpi": "kpi",
    "kpis": "kpis",
    "okrs": "kpis",
    "gpus": "gpu",
    "dbs": "databases",
    "db": "database",
    "cred": "credentials",
    "creds": "credentials",
    "auth": "authentication",
    "apis": "api",
    "tf": "terraform",
    "int": "integration",
    "tl": "team lead",
    "feat": "feature",
    "eng": "engineering",
    "acct": "account",
    "accts": "accounts",
    "ut": "unit test",
    "uts": "unit tests",
    "hld": "high level design",
    "lld": "low level design",
    "arch": "architecture",
    "std": "standard",
    "stds": "standards",
    "proj": "project",
    "proc": "process",
    "hwo": "who",
    "mtg": "meeting",
    "mtgs": "meetings",
    "utils": "utilities",
    "src": "source",
    "az": "azure",
    "rg": "resource group",
    "grp": "group",
    "mgr": "manager",
    "svc": "service",
    "svcs": "services",
    "aks": "azure kubernetes service",
    "projs": "projects",
    "dev": "development",
    "devs": "developers",
    "fte": "fte",
    "ftes": "fte",
    # Shorthand of software, IT and ML work generally, not of one catalogue: a team's document
    # writes the work out ("service level objectives") and people shorten it. Initials a team's
    # own phrases spell are found from the catalogue (matcher.phrase_acronyms); these are the
    # ones initials cannot give. Ambiguous ones (PO, CS, AD, PR) are left out.
    "slo": "service level objective",
    "slos": "service level objectives",
    "sla": "service level agreement",
    "slas": "service level agreements",
    "hpo": "hyperparameter optimization",
    "ckpt": "checkpoint",
    "ckpts": "checkpoints",
    "a11y": "accessibility",
    "i18n": "internationalization",
    "l10n": "localization",
    "gql": "graphql",
    "rca": "root cause analysis",
    "rcas": "root cause analyses",
    "mttr": "mean time to recovery",
    "sso": "single sign on",
    "mfa": "multi factor authentication",
    "iam": "identity and access management",
    "mdm": "mobile device management",
    "kb": "knowledge base",
    "hc": "headcount",
    "mktg": "marketing",
    "adhoc": "ad hoc",
    "pkg": "package",
    "pkgs": "packages",
    "dwh": "data warehouse",
    "edw": "data warehouse",
    "oncall": "on call",
    "infosec": "information security",
    "secops": "security operations",
    "ux": "user experience",
    "ui": "user interface",
    "prd": "product requirements document",
    "prds": "product requirements documents",
    "gtm": "go to market",
    "dsr": "data subject request",
    "dsrs": "data subject requests",
    "dpia": "data protection impact assessment",
    "t1": "tier 1",
    "t2": "tier 2",
    "t3": "tier 3",
    "ckpting": "checkpointing",
    "eval": "evaluation",
    "evals": "evaluations",
    "ops": "operations",
    "recs": "recommendations",
    "recsys": "recommender system",
    # Everyday words for the catalogue's own ("who keeps the bigwigs in the loop").
    "crew": "team",
    "crews": "teams",
    "codebase": "code",
    "codebases": "code",
    "predictor": "model",
    "predictors": "models",
    "fitted": "trained",
    "refit": "retrain",
    "estate": "infrastructure",
    "website": "app",
    "webapp": "app",
    "bigwigs": "executives",
    "execs": "executives",
    "firm": "vendor",
    "agency": "vendor",
    "outsourcer": "vendor",
    "tidy": "clean",
    "tidies": "cleans",
    "junk": "dirty",
    "stitch": "join",
    "stitches": "joins",
    "reusable": "shared",
    "pricey": "cost",
    "expensive": "cost",
    "costly": "cost",
}

# British spellings that a suffix rule cannot catch; -ise/-isation/-yse are handled by rule.
SPELLINGS: dict[str, str] = {
    "catalogue": "catalog",
    "catalogues": "catalogs",
    "colour": "color",
    "behaviour": "behavior",
    "behaviours": "behaviors",
    "modelling": "modeling",
    "modelled": "modeled",
    "modeller": "modeler",
    "labelling": "labeling",
    "labelled": "labeled",
    "travelling": "traveling",
    "centre": "center",
    "centres": "centers",
    "licence": "license",
    "licences": "licenses",
    "programme": "program",
    "programmes": "programs",
    "artefact": "artifact",
    "artefacts": "artifacts",
    "favourite": "favorite",
    "cancelled": "canceled",
    "judgement": "judgment",
    "enrol": "enroll",
}

# Words that ending in -ise are not British -ize spellings.
ISE_WORDS: frozenset[str] = _words(
    """
    advise advised advises advising arise arises compromise concise devise disguise enterprise
    enterprises exercise exercises expertise franchise merchandise noise otherwise paradise
    praise precise premise premises promise promised promises raise raised raises raising
    revise revised rise rises supervise supervised surprise surprised treatise wise likewise
    cruise chemise despise excise incise reprise televise improvise
    """
)

# Words that carry no meaning for matching: function words, and the ways of asking "who does it".
STOP_WORDS: frozenset[str] = _words(
    """
    a about above after again against all also am an and any anybody anyone are aren as at be
    because been before being below between both but by can cannot could couldn did didn do
    does doesn doing don done down during each either else etc even ever every few for from
    further get gets getting got had hadn has hasn have haven having he her here hers herself
    him himself his how i if in into is isn it its itself just let lets like ll me might mine
    more most much must my myself need needs no nor not now of off on once one only or other
    ought our ours ourselves out over own please quick quickly re really right s same shall
    she should shouldn so some somebody someone something still such t than thanks thank thx
    that the their theirs them themselves then there these they this those through to too
    under until up us ve very was wasn we were weren what whatever when where whether which
    while who whoever whom whose why will with won would wouldn yet you your yours yourself
    yourselves hey hi hello hiya folks guys team's anyone's handle handles handling handled
    handler own owns owning owned responsible responsibility responsibilities charge care take
    takes taking look looks looking after deal deals dealing sort sorts sorting ask asking
    talk talking speak contact ping reach go goes person people guy guys gal tell know knows
    knowing want wants wanted current currently usually normally typically today exactly
    actually basically supposed meant job thing things stuff kind lot around regarding related
    relating re matter matters question questions help helps helping okay ok sorry bother
    bothering whoowns bot write writes writing wrote does make makes set sets
    """
)

# Openings of messages that ask the bot to do or explain something rather than name who handles it
# ("what is a monad", "tell me a joke", "how do I exit vim", "deploy the model to staging").
NON_OWNERSHIP_OPENINGS: tuple[str, ...] = (
    "what is",
    "what are",
    "what was",
    "what the",
    "what a",
    "what an",
    "what time",
    "what day",
    "what would",
    "what should",
    "whats",
    "what does",
    "what do",
    "how do",
    "how does",
    "how to",
    "how can",
    "how many",
    "how much",
    "how long",
    "how is",
    "how are",
    "how would",
    "how should",
    "hows",
    "why",
    "explain",
    "describe",
    "define",
    "recommend",
    "any tips",
    "tips on",
    "best practice",
    "can you",
    "could you",
    "would you",
    "will you",
    "tell me",
    "give me",
    "show me",
    "write",
    "draft",
    "translate",
    "convert",
    "remind me",
    "summarise",
    "summarize",
    "calculate",
    "schedule",
    "create a",
    "create an",
    "generate",
    "send",
    "run",
    "deploy",
    "restart",
    "open",
    "book",
    "order",
    "play",
    "set a",
    "make a",
    "add a reminder",
    "cancel",
    "approve my",
    "where",
    "when is",
    "when does",
    "when will",
    "difference between",
    "which is better",
    "which one would",
    "which one should",
    "vs",
    "versus",
)

# Yes/no questions ("is scrum still worth it?") are not who-questions, except those asking whether
# someone is there ("is there a tester?", "do we have a PO?").
YES_NO_OPENINGS: tuple[str, ...] = (
    "is",
    "are",
    "was",
    "were",
    "does",
    "do",
    "did",
    "can",
    "could",
    "should",
    "would",
    "will",
    "has",
    "have",
    "am",
)
# Whether we have a role asks who it is ("do we even have a solution architect on this?"); a
# regular-expression fragment, shared by the form rules and the matcher.
WE_HAVE = r"we (?:even |actually |still |already )?have"
YES_NO_EXCEPTIONS: tuple[str, ...] = (
    "there",
    WE_HAVE,
    "we got",
    "you have",
    "anyone",
    "someone",
)

# Words asking for knowledge rather than a person ("can someone explain drift vs concept drift").
KNOWLEDGE_WORDS: frozenset[str] = _words(
    """
    explain explanation recommend recommendation difference vs versus worth meaning mean means
    definition define tips tutorial tutorials course courses book books podcast podcasts stand
    """
)

# Words that put a question in the wider world, not this project ("the most famous data engineer",
# "the PM in the film", "the team leader of the national team").
WORLD_WORDS: frozenset[str] = _words(
    """
    famous greatest richest celebrity celebrities ceo cto president minister king queen pope
    twitter linkedin youtube wikipedia movie movies film films sitcom novel novels fiction
    fictional actor actress awards
    """
)

# Workplace matters outside project work: pay, leave, HR and the building ("who do I send my sick
# note to", "who schedules the fire drill"). They share words with the catalogue (schedule, review,
# contract, report) but no project role handles them. Not "cleaning" (data), "party" (third-party
# libraries), "raise" (a quota) or "leave" alone ("scrum master while priya's on leave").
WORKPLACE_WORDS: frozenset[str] = _words(
    """
    payroll payslip payslips pension pensions reimbursement reimbursed receipt receipts expense
    expenses hotel flight flights taxi visa visas relocation maternity paternity sick illness
    doctor dentist grievance grievances whistleblowing whistleblower harassment disciplinary
    appraisal appraisals promotion bonus overtime timesheet timesheets payday commute mileage
    allowance insurance childcare nursery badge badges lanyard parking desk desks chair chairs
    locker lockers kitchen fridge coffee canteen lunch cleaner cleaners heating aircon toilet
    toilets stationery gym wellbeing vacation pto salary salaries wfh
    """
)
WORKPLACE_PHRASES: tuple[str, ...] = (
    "performance review",
    "employment contract",
    "my contract",
    "fire drill",
    "first aid",
    "annual leave",
    "sick leave",
    "parental leave",
    "my leave",
    "leave request",
    "pay rise",
    "pay raise",
    "christmas party",
    "summer party",
    "meeting room",
    "working from home",
    "work from home",
    "remote working",
    "hybrid working",
    "performance rating",
    "my rating",
)

# Words that ask about a role in general, not who holds it here ("what skills does a solution
# architect need", "help me prepare for my scrum master interview", "in scrum theory, who…").
GENERIC_WORDS: frozenset[str] = _words(
    """
    typical typically generally theory theoretically opinion interview interviews cv resume
    salary salaries earn earns career careers certification certifications certified become
    becoming according hypothetical hypothetically
    """
)

# Shorthand the field writes as it is, which a part of a role's name never takes over ("ML" is
# machine learning, not the Mapping Lead of a "GIS & Mapping Lead"); with EXPANSIONS' keys (UX,
# UI, SLO, …), which are shorthand too.
FIELD_SHORTHAND: frozenset[str] = _words(
    "ml ai nlp cv qa bi ci cd it hr pr api sql etl gpu llm seo crm erp"
)

# Words placing a question here wherever they are ("who's our PM for churn").
OUR_WORDS: frozenset[str] = _words("our ours we us this here")

# Words saying a role's qualifier is about this team ("the scrum master for the churn project");
# not anywhere else in the question, as role names hold them ("project manager of canada").
PLACE_WORDS: frozenset[str] = _words(
    """
    team teams project projects squad squads group pod company org organisation organization
    department
    """
)

# What ML teams' own work is called ("the data scientist for churn", "the PO of the recommender"):
# a qualifier naming these is about work here, not about another organisation.
ML_WORK_WORDS: frozenset[str] = _words(
    """
    churn attrition retention recommender recommenders recommendation recommendations forecasting
    forecast forecasts fraud pricing nlp classifier classifiers classification optimiser optimizer
    optimisation optimization segmentation personalisation personalization ranking search
    anomaly anomalies propensity scoring demand supply chain vision ocr chatbot llm rag genai
    embeddings uplift underwriting credit risk claims invoice invoices tickets ticket
    """
)

# Words that date a question without placing it ("the project lead for X this quarter", "the PO
# for the new iphone").
TIME_WORDS: frozenset[str] = _words(
    """
    now day days week weeks month months quarter quarters year years today tomorrow tonight
    sprint moment time while anymore currently nowadays new newest latest old next last
    """
)

# After "who", verbs that ask about the world, not about this project ("who invented scrum?").
NON_OWNERSHIP_VERBS: frozenset[str] = _words(
    """
    invented founded coined won discovered wrote directed painted sang starred married dating
    died born scored was were sings sing sung composed
    """
)

# Verbs that open an errand for the bot ("remind the team lead about the demo", "ping the devops
# engineer"), even when they are also ownership cues elsewhere ("who should I ping about X").
INSTRUCTIONS: frozenset[str] = _words(
    """
    remind ping tell notify dm message cc add assign make update note forward invite email mail
    write compose draft generate pretend imagine roleplay
    """
)

# People a relative "who" describes ("thanks to the data engineer who fixed it", "a poem about a
# data scientist who loves coffee"): such a "who" does not ask anything.
PERSON_NOUNS: frozenset[str] = _words(
    """
    engineer engineers scientist scientists analyst analysts developer developers dev devs tester
    testers master masters manager managers lead leads architect architects admin admins
    administrator administrators owner owners person people guy guys folks colleague colleagues
    teammate teammates friend friends man woman hero heroes
    """
)

# Words that make a message ask who does something, whatever its opening.
OWNERSHIP_CUES: frozenset[str] = _words(
    """
    who whom whose whos someone somebody anyone anybody person owner owns own owning
    responsible accountable charge handles handle handling contact ask talk ping approve
    approval escalate need needs needed poc
    """
)

# Words that make a short message a statement rather than a topic ("standup is cancelled").
STATEMENT_WORDS: frozenset[str] = _words(
    """
    is are was were has have had got been being went goes lol haha yay thanks thank cancelled
    canceled moved postponed rescheduled delayed done
    """
)
